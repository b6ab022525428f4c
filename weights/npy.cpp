// NumPy .npy: magic "\x93NUMPY", version (1.0: 2-byte header length; 2.0 and 3.0: 4-byte), then
// a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
// padded with spaces and a newline, then the raw data.
#include <cstring>
#include <regex>
#include <vector>

#include "core/error.h"
#include "weights/file_io.h"
#include "weights/tensor_file.h"

namespace saliency::weights {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr uint64_t kMaxHeaderBytes = 1 << 20;

// Finds `'key': value` in the dict literal; value up to the next top-level comma or brace.
std::string dict_value(const std::string& path, const std::string& header, const std::string& key) {
  const std::string quoted = "'" + key + "'";
  const size_t at = header.find(quoted);
  if (at == std::string::npos)
    throw InvalidArgument(concat(path, ": .npy header has no '", key, "' entry"));
  size_t start = header.find(':', at + quoted.size());
  if (start == std::string::npos) throw InvalidArgument(concat(path, ": malformed .npy header"));
  ++start;
  size_t end = start;
  int depth = 0;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) break;
  }
  std::string value = header.substr(start, end - start);
  value.erase(0, value.find_first_not_of(" "));
  value.erase(value.find_last_not_of(" ") + 1);
  return value;
}

Shape parse_shape(const std::string& path, const std::string& text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    throw InvalidArgument(concat(path, ": .npy shape ", text, " is not a tuple"));
  std::vector<int64_t> dims;
  const std::string inner = text.substr(1, text.size() - 2);
  static const std::regex number("\\s*(\\d{1,18})\\s*(,|$)");
  auto it = inner.cbegin();
  std::smatch match;
  while (it != inner.cend() && std::regex_search(it, inner.cend(), match, number,
                                                 std::regex_constants::match_continuous)) {
    dims.push_back(std::stoll(match[1].str()));
    it = match[0].second;
  }
  if (it != inner.cend() && inner.find_first_not_of(" ", it - inner.cbegin()) != std::string::npos)
    throw InvalidArgument(concat(path, ": .npy shape ", text, " is not a tuple of integers"));
  return Shape(dims);
}

}  // namespace

Tensor read_npy(const std::string& path) {
  InputFile file(path);
  char prefix[10];
  if (file.size() < 10) throw InvalidArgument(concat(path, ": too short for a .npy file"));
  file.read_at(0, prefix, 10);
  if (std::memcmp(prefix, kMagic, 6) != 0)
    throw InvalidArgument(concat(path, ": not a .npy file (bad magic bytes)"));
  const int major = static_cast<unsigned char>(prefix[6]);
  uint64_t header_bytes = 0, header_start = 0;
  if (major == 1) {
    header_bytes = uint8_t(prefix[8]) | uint64_t(uint8_t(prefix[9])) << 8;
    header_start = 10;
  } else if (major == 2 || major == 3) {
    unsigned char length[4];
    file.read_at(8, length, 4);
    header_bytes = length[0] | uint64_t(length[1]) << 8 | uint64_t(length[2]) << 16 |
                   uint64_t(length[3]) << 24;
    header_start = 12;
  } else {
    throw InvalidArgument(concat(path, ": unsupported .npy version ", major));
  }
  if (header_bytes > kMaxHeaderBytes || header_start + header_bytes > file.size())
    throw InvalidArgument(
        concat(path, ": .npy header length ", header_bytes, " does not fit the file"));
  std::string header(header_bytes, '\0');
  file.read_at(header_start, header.data(), header_bytes);

  const std::string descr = dict_value(path, header, "descr");
  DType dtype;
  if (descr == "'<f4'")
    dtype = DType::Float32;
  else if (descr == "'<f8'")
    dtype = DType::Float64;
  else
    throw InvalidArgument(
        concat(path, ": .npy dtype ", descr,
               " is not supported (little-endian float32 '<f4' or float64 '<f8')"));
  if (dict_value(path, header, "fortran_order") != "False")
    throw InvalidArgument(concat(path, ": Fortran-ordered .npy arrays are not supported"));
  const Shape shape = parse_shape(path, dict_value(path, header, "shape"));
  const uint64_t data_start = header_start + header_bytes;
  const uint64_t expected = tensor_bytes(path, shape, dtype);
  if (file.size() - data_start != expected)
    throw InvalidArgument(concat(path, ": .npy data holds ", file.size() - data_start,
                                 " bytes, shape ", shape, " needs ", expected));
  Tensor tensor = Tensor::empty(shape, dtype);
  file.read_at(data_start, tensor.raw_data(), expected);
  return tensor;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  SALIENCY_CHECK(tensor.device().is_cpu(), "write_npy: tensor is on ", tensor.device().str());
  // Python tuple syntax: (), (5,), (2, 3)
  std::string shape = "(";
  for (int64_t d = 0; d < tensor.rank(); ++d)
    shape += (d ? ", " : "") + std::to_string(tensor.size(d));
  shape += tensor.rank() == 1 ? ",)" : ")";
  std::string header = std::string("{'descr': '") +
                       (tensor.dtype() == DType::Float32 ? "<f4" : "<f8") +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  OutputFile file(path);
  file.write(kMagic, 6);
  const unsigned char version[2] = {1, 0};
  file.write(version, 2);
  const unsigned char length[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                   static_cast<unsigned char>(header.size() >> 8)};
  file.write(length, 2);
  file.write(header.data(), header.size());
  file.write(tensor.raw_data(), tensor.nbytes());
  file.commit();
}

}  // namespace saliency::weights
