// Replays, in the normal test suite, every input in tests/fuzz/regressions/<target>/ (inputs
// that once crashed a fuzzer, kept forever) and the seed inputs in tests/fuzz/seeds/<target>/
// through the same functions the libFuzzer programs call. Under scripts/test-sanitized.sh this
// is a sanitized replay, as the fuzzers ran them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "fuzz_targets.h"
#include "saliency/image.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), {}};
}

size_t replay(const fuzz::Target& target, const std::string& folder) {
  const fs::path directory = fs::path(SALIENCY_FUZZ_DIR) / folder / target.name;
  if (!fs::is_directory(directory)) return 0;
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(directory)) {
    const std::vector<uint8_t> bytes = read_bytes(entry.path());
    EXPECT_NO_THROW(target.run(bytes.data(), bytes.size())) << entry.path();
    ++count;
  }
  return count;
}

TEST(FuzzRegressions, EveryTargetSurvivesItsSeedsAndPastCrashes) {
  size_t seeds = 0;
  for (const fuzz::Target& target : fuzz::targets()) {
    seeds += replay(target, "seeds");
    replay(target, "regressions");
  }
  EXPECT_GT(seeds, 10u);
}

TEST(FuzzRegressions, EveryTargetSurvivesEmptyAndTinyInputs) {
  const std::vector<std::vector<uint8_t>> inputs{
      {}, {0}, {0xff, 0xd8, 0xff}, {0x89, 'P', 'N', 'G'}, {'\n', '\n'}, {'P', 'K', 3, 4}};
  for (const fuzz::Target& target : fuzz::targets())
    for (const auto& bytes : inputs) EXPECT_NO_THROW(target.run(bytes.data(), bytes.size()));
}

// What the fuzzers found, with the errors users now get.
template <typename Fn>
std::string rejection(const Fn& load) {
  try {
    load();
  } catch (const InvalidArgument& error) {
    return error.what();
  }
  return "(accepted)";
}

fs::path regression(const std::string& target, const std::string& file) {
  return fs::path(SALIENCY_FUZZ_DIR) / "regressions" / target / file;
}

TEST(FuzzRegressions, PngClaimingFourBillionPixelsASideIsRefusedWithoutOverflow) {
  const std::vector<uint8_t> bytes = read_bytes(regression("image", "png-dimensions-overflow.png"));
  const std::string message = rejection([&] { decode_image(bytes, "overflow.png"); });
  EXPECT_NE(message.find("4294967295 x 4294967295 pixels exceeds the limit"), std::string::npos)
      << message;
}

TEST(FuzzRegressions, JpegHuffmanTableWithTooManyCodesIsRefusedBeforeStbReadsIt) {
  // stb_image 2.27 wrote past an array for this file (UBSan: index 257 out of bounds).
  const std::vector<uint8_t> bytes =
      read_bytes(regression("image", "jpeg-huffman-counts-over-256.jpg"));
  const std::string message = rejection([&] { decode_image(bytes, "huffman.jpg"); });
  EXPECT_NE(message.find("corrupt JPEG (a Huffman table declares 311 codes"), std::string::npos)
      << message;
  // The same with the table's counts cut off by the end of the file (stb reads zeros there).
  const std::vector<uint8_t> cut =
      read_bytes(regression("image", "jpeg-huffman-table-cut-by-end-of-file.jpg"));
  const std::string cut_message = rejection([&] { decode_image(cut, "cut.jpg"); });
  EXPECT_NE(cut_message.find("declares 1854 codes"), std::string::npos) << cut_message;
}

TEST(FuzzRegressions, JpegBehindFillBytesIsCheckedLikeAnyJpeg) {
  // stb reads FF FF FF D8 as a JPEG start; our check looked for FF D8 FF and let it through.
  std::vector<uint8_t> bytes = read_bytes(regression("image", "jpeg-fill-bytes-before-soi.jpg"));
  EXPECT_NE(rejection([&] { decode_image(bytes, "fill.jpg"); }).find("truncated JPEG"),
            std::string::npos);
  bytes.insert(bytes.end(), {0xFF, 0xD9});  // complete, so the Huffman check is what refuses it
  const std::string message = rejection([&] { decode_image(bytes, "fill.jpg"); });
  EXPECT_NE(message.find("corrupt JPEG (a Huffman table declares 445 codes"), std::string::npos)
      << message;
}

TEST(FuzzRegressions, ThinImageIsRefusedBeforeItsResizeAllocatesGigapixels) {
  // 16385 x 1 pixels: resizing the shorter side to 256 would make a billion pixels.
  const std::string path = regression("image", "gif-16385x1-resize-blowup.gif").string();
  const std::string message = rejection([&] { load_model_input(path); });
  EXPECT_NE(message.find(path + ": image of 16385 x 1 pixels is too elongated"), std::string::npos)
      << message;
}

TEST(FuzzRegressions, PickleThatPutsAListInsideItselfIsRefused) {
  // It leaked every object of the cycle before (shared pointers in a loop).
  const std::string path = regression("pth", "leak-self-containing-list.pth").string();
  const std::string message = rejection([&] { weights::read_pth(path); });
  EXPECT_NE(message.find("pickle puts a container inside itself"), std::string::npos) << message;
}

}  // namespace
}  // namespace saliency
