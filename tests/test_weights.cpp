// safetensors and .npy: round trips, files written by other tools (numpy, the fixture script),
// and malformed files refused with the file named.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/factory.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("saliency_test_" + std::to_string(::getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header.size() >> (8 * i));
  return bytes + header + data;
}

// Expects InvalidArgument whose message starts with the path and contains `fragment`.
void expect_refused(const std::function<void()>& load, const std::string& path,
                    const std::string& fragment) {
  try {
    load();
    ADD_FAILURE() << "accepted a malformed file; expected: " << fragment;
  } catch (const InvalidArgument& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path, 0), 0u) << message;
    EXPECT_NE(message.find(fragment), std::string::npos) << message;
  }
}

TEST(Safetensors, RoundTripKeepsNamesShapesValuesAndMetadata) {
  TempDir dir;
  Generator gen(1);
  const weights::TensorMap tensors{{"layer1.0.conv1.weight", randn({4, 3, 3, 3}, gen)},
                                   {"fc.bias", randn({10}, gen, DType::Float64)},
                                   {"empty", zeros({0, 5})}};
  weights::write_safetensors(dir.file("w.safetensors"), tensors, {{"source", "test"}});
  weights::Metadata metadata;
  const weights::TensorMap loaded = weights::read_safetensors(dir.file("w.safetensors"), &metadata);
  ASSERT_EQ(loaded.size(), 3u);
  for (const auto& [name, tensor] : tensors) {
    EXPECT_EQ(loaded.at(name).shape(), tensor.shape()) << name;
    EXPECT_EQ(loaded.at(name).dtype(), tensor.dtype()) << name;
    EXPECT_EQ(loaded.at(name).to_vector(), tensor.to_vector()) << name;
  }
  EXPECT_EQ(metadata.at("source"), "test");
  EXPECT_FALSE(fs::exists(dir.file("w.safetensors.partial")));
}

TEST(Safetensors, ReadsTheFixtureScriptsFiles) {
  const weights::TensorMap loaded =
      weights::read_safetensors(SALIENCY_FIXTURE_DIR "/tiny_resnet18.safetensors");
  EXPECT_EQ(loaded.at("conv1.weight").shape(), (Shape{4, 3, 7, 7}));
  EXPECT_EQ(loaded.at("layer2.0.downsample.1.running_var").shape(), (Shape{8}));
}

TEST(Safetensors, RefusesMalformedFiles) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  auto load = [&] { weights::read_safetensors(path); };
  const std::string four_floats(16, '\0');
  const std::string good_entry = R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";

  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"a":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" +
           offsets + "}}";
  };
  struct Case {
    std::string bytes, refusal;
  };
  const Case cases[] = {
      {"", "too short"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "header length"},
      {safetensors_bytes("{not json", ""), "not valid JSON"},
      {safetensors_bytes("[]", ""), "not a JSON object"},
      {safetensors_bytes(entry("F32", "[4]", "[0,32]"), four_floats), "outside the data section"},
      {safetensors_bytes(entry("F32", "[5]", "[0,16]"), four_floats), "needs 20 bytes"},
      {safetensors_bytes(entry("F32", "[-4]", "[0,16]"), four_floats), "negative"},
      {safetensors_bytes(entry("I64", "[2]", "[0,16]"), four_floats), "dtype I64"},
      {safetensors_bytes(entry("F32", "[1099511627776,1099511627776]", "[0,16]"), four_floats),
       "too large"},
      {safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4]}})", four_floats), "tensor 'a'"},
      {safetensors_bytes(
           "{" + good_entry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
           four_floats),
       "overlaps"},
      {safetensors_bytes("{" + good_entry + "}", four_floats + "xxxx"), "belong to no tensor"},
  };
  for (const Case& c : cases) {
    write_bytes(path, c.bytes);
    expect_refused(load, path, c.refusal);
  }
  expect_refused([&] { weights::read_safetensors(dir.file("missing.safetensors")); },
                 dir.file("missing.safetensors"), "cannot open");

  write_bytes(path, safetensors_bytes("{" + good_entry + "}", four_floats));
  EXPECT_EQ(weights::read_safetensors(path).at("a").numel(), 4);  // the well-formed control
}

TEST(Npy, RoundTripAllRanks) {
  TempDir dir;
  Generator gen(2);
  for (const Tensor& t : {randn({2, 3, 4, 5}, gen), randn({7}, gen, DType::Float64), full({}, 3.5),
                          randn({3, 1}, gen)}) {
    weights::write_npy(dir.file("t.npy"), t);
    const Tensor back = weights::read_npy(dir.file("t.npy"));
    EXPECT_EQ(back.shape(), t.shape());
    EXPECT_EQ(back.dtype(), t.dtype());
    EXPECT_EQ(back.to_vector(), t.to_vector());
  }
}

TEST(Npy, ReadsFilesWrittenByNumpy) {
  const Tensor image = weights::read_npy(SALIENCY_FIXTURE_DIR "/resnet_input.npy");
  EXPECT_EQ(image.shape(), (Shape{2, 3, 40, 36}));
  EXPECT_EQ(image.dtype(), DType::Float32);
}

TEST(Npy, RefusesMalformedFiles) {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  auto load = [&] { weights::read_npy(path); };
  auto npy = [](const std::string& header, const std::string& data) {
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    return bytes + header + data;
  };
  write_bytes(path, "PK\x03\x04 this is a zip");
  expect_refused(load, path, "bad magic");
  write_bytes(path, npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "abcd"));
  expect_refused(load, path, "not supported");
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "abcd"));
  expect_refused(load, path, "Fortran");
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", "abcd"));
  expect_refused(load, path, "needs 12");
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", "abcd"));
  expect_refused(load, path, "not a tuple of integers");
  write_bytes(path,
              npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
                  "abcd"));
  expect_refused(load, path, "too large");
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': False}", "abcd"));
  expect_refused(load, path, "no 'shape'");
  write_bytes(path, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "abcd"));
  EXPECT_EQ(weights::read_npy(path).numel(), 1);  // the well-formed control
}

}  // namespace
}  // namespace saliency

namespace saliency {
namespace {

const std::string kPthZip = SALIENCY_FIXTURE_DIR "/tiny_resnet50.pth";
const std::string kPthLegacy = SALIENCY_FIXTURE_DIR "/tiny_resnet50_legacy.pth";

// torch.save of the same state dict, in both containers, gives exactly the tensors the
// safetensors file holds (BatchNorm's int64 counters skipped).
TEST(Pth, BothContainersLoadBitForBitLikeSafetensors) {
  const weights::TensorMap reference =
      weights::read_safetensors(SALIENCY_FIXTURE_DIR "/tiny_resnet50.safetensors");
  for (const std::string& path : {kPthZip, kPthLegacy}) {
    const weights::TensorMap loaded = weights::read_weights(path);
    ASSERT_EQ(loaded.size(), reference.size()) << path;
    for (const auto& [name, tensor] : reference) {
      ASSERT_TRUE(loaded.count(name)) << path << " lacks " << name;
      EXPECT_EQ(loaded.at(name).shape(), tensor.shape()) << name;
      EXPECT_EQ(loaded.at(name).to_vector(), tensor.to_vector()) << name;
    }
  }
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Pth, RefusesMalformedCheckpoints) {
  TempDir dir;
  const std::string path = dir.file("bad.pth");
  auto load = [&] { weights::read_pth(path); };
  const std::string zip = file_bytes(kPthZip), legacy = file_bytes(kPthLegacy);
  struct Case {
    std::string bytes, refusal;
  };
  std::string unknown_opcode = legacy;
  unknown_opcode[2] = '\xff';  // the first opcode after PROTO 2
  std::string compressed = zip;
  const size_t directory = compressed.rfind("PK\x01\x02");
  compressed[directory + 10] = 8;  // deflate
  const Case cases[] = {
      {"", "too short"},
      {"hello, world", "neither zip nor pickle"},
      {zip.substr(0, zip.size() / 2), "no zip end-of-directory record"},
      {compressed, "is compressed"},
      {unknown_opcode, "unsupported pickle opcode 0xff"},
      {legacy.substr(0, legacy.size() / 2), "runs past the end of the file"},
      {legacy.substr(0, 30), "pickle data ends early"},
  };
  for (const Case& c : cases) {
    write_bytes(path, c.bytes);
    expect_refused(load, path, c.refusal);
  }
}

}  // namespace
}  // namespace saliency
