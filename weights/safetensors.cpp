// safetensors: 8-byte little-endian header length N, N bytes of JSON mapping names to
// {dtype, shape, data_offsets: [begin, end)} relative to the data section that follows, plus an
// optional "__metadata__" string map.
#include <algorithm>
#include <bit>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "weights/file_io.h"
#include "weights/tensor_file.h"

namespace saliency::weights {
namespace {

using nlohmann::json;

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

DType parse_dtype(const std::string& path, const std::string& key, const std::string& name) {
  if (name == "F32") return DType::Float32;
  if (name == "F64") return DType::Float64;
  throw InvalidArgument(concat(path, ": tensor '", key, "' has dtype ", name,
                               "; only F32 and F64 are supported (convert the weights to F32)"));
}

Entry parse_entry(const std::string& path, const std::string& key, const json& value,
                  uint64_t data_bytes) {
  auto fail = [&](const std::string& what) {
    return InvalidArgument(concat(path, ": tensor '", key, "': ", what));
  };
  if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
      !value.contains("data_offsets"))
    throw fail("needs dtype, shape and data_offsets");
  if (!value["dtype"].is_string()) throw fail("dtype is not a string");
  const json& shape = value["shape"];
  const json& offsets = value["data_offsets"];
  if (!shape.is_array() || !offsets.is_array() || offsets.size() != 2)
    throw fail("shape must be a list and data_offsets a pair");
  std::vector<int64_t> dims;
  for (const json& d : shape) {
    if (!d.is_number_unsigned()) throw fail("shape holds a non-integer or negative extent");
    if (d.get<uint64_t>() > uint64_t(INT64_MAX)) throw fail("shape extent too large");
    dims.push_back(d.get<int64_t>());
  }
  if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    throw fail("data_offsets must be non-negative integers");
  Entry entry{key, parse_dtype(path, key, value["dtype"].get<std::string>()), Shape(dims),
              offsets[0].get<uint64_t>(), offsets[1].get<uint64_t>()};
  if (entry.begin > entry.end || entry.end > data_bytes)
    throw fail(concat("data_offsets [", entry.begin, ", ", entry.end,
                      ") lie outside the data section of ", data_bytes, " bytes"));
  const uint64_t expected =
      tensor_bytes(concat(path, ": tensor '", key, "'"), entry.shape, entry.dtype);
  if (entry.end - entry.begin != expected)
    throw fail(concat("shape ", entry.shape, " needs ", expected, " bytes, data_offsets give ",
                      entry.end - entry.begin));
  return entry;
}

std::vector<Entry> parse_header(const std::string& path, const std::string& text,
                                uint64_t data_bytes, Metadata* metadata) {
  json header;
  try {
    header = json::parse(text);
  } catch (const json::exception& e) {
    throw InvalidArgument(concat(path, ": header is not valid JSON (", e.what(), ")"));
  }
  if (!header.is_object()) throw InvalidArgument(concat(path, ": header is not a JSON object"));
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw InvalidArgument(concat(path, ": __metadata__ is not a map"));
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string())
          throw InvalidArgument(
              concat(path, ": __metadata__ value '", meta_key, "' is not a string"));
        if (metadata) (*metadata)[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, value, data_bytes));
  }
  // The data section must be covered exactly once: no overlaps, no holes (as the format says).
  std::vector<const Entry*> by_offset;
  for (const Entry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  uint64_t covered = 0;
  for (const Entry* e : by_offset) {
    if (e->begin != covered)
      throw InvalidArgument(
          concat(path, ": tensor '", e->name, "' ",
                 e->begin < covered ? "overlaps the previous tensor" : "leaves a gap before it",
                 " (data_offsets start at ", e->begin, ", expected ", covered, ")"));
    covered = e->end;
  }
  if (covered != data_bytes)
    throw InvalidArgument(
        concat(path, ": ", data_bytes - covered, " bytes of the data section belong to no tensor"));
  return entries;
}

// Where the bytes come from: a file, or memory (the model embedded in the binary).
struct ByteSource {
  uint64_t size;
  std::function<void(uint64_t offset, void* destination, uint64_t bytes)> read_at;
};

TensorMap read_safetensors_from(const std::string& path, const ByteSource& source,
                                Metadata* metadata) {
  const uint64_t size = source.size;
  if (size < 8)
    throw InvalidArgument(concat(path, ": too short for a safetensors file (", size, " bytes)"));
  unsigned char length_bytes[8];
  source.read_at(0, length_bytes, 8);
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  if (header_bytes > kMaxSafetensorsHeaderBytes || header_bytes > size - 8)
    throw InvalidArgument(concat(path, ": header length ", header_bytes, " does not fit the file (",
                                 size, " bytes) or the limit of ", kMaxSafetensorsHeaderBytes,
                                 " bytes"));
  std::string text(header_bytes, '\0');
  source.read_at(8, text.data(), header_bytes);
  const uint64_t data_start = 8 + header_bytes;
  const std::vector<Entry> entries = parse_header(path, text, size - data_start, metadata);

  TensorMap tensors;
  for (const Entry& entry : entries) {
    Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
    source.read_at(data_start + entry.begin, tensor.raw_data(), entry.end - entry.begin);
    if constexpr (std::endian::native != std::endian::little)
      throw Error("safetensors: big-endian hosts are not supported");
    tensors.emplace(entry.name, std::move(tensor));
  }
  return tensors;
}

}  // namespace

TensorMap read_safetensors(const std::string& path, Metadata* metadata) {
  InputFile file(path);
  return read_safetensors_from(
      path,
      {file.size(), [&](uint64_t offset, void* out, uint64_t n) { file.read_at(offset, out, n); }},
      metadata);
}

TensorMap read_safetensors(std::span<const uint8_t> bytes, const std::string& name,
                           Metadata* metadata) {
  return read_safetensors_from(name,
                               {bytes.size(),
                                [&](uint64_t offset, void* out, uint64_t n) {
                                  // offset + n <= size: the header checks come first
                                  std::memcpy(out, bytes.data() + offset, n);
                                }},
                               metadata);
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const Metadata& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    SALIENCY_CHECK(tensor.device().is_cpu(), "write_safetensors: tensor '", name, "' is on ",
                   tensor.device().str());
    header[name] = {{"dtype", tensor.dtype() == DType::Float32 ? "F32" : "F64"},
                    {"shape", tensor.shape().dims()},
                    {"data_offsets", {offset, offset + tensor.nbytes()}}};
    offset += tensor.nbytes();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  OutputFile file(path);
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(text.size() >> (8 * i));
  file.write(length_bytes, 8);
  file.write(text.data(), text.size());
  for (const auto& [name, tensor] : tensors) file.write(tensor.raw_data(), tensor.nbytes());
  file.commit();
}

}  // namespace saliency::weights
