// Image decoding and torchvision's evaluation transform: broken files are refused with the
// file named, and the preprocessed tensor equals torchvision's (PIL) on a PNG photo.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <stb/stb_image_write.h>  // implemented in the library (saliency/stb_image_write_impl.cpp)

#include "core/error.h"
#include "gradcheck.h"
#include "saliency/image.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

const std::string kImages = SALIENCY_DATA_DIR "/images/";
const std::string kBad = SALIENCY_TEST_DATA_DIR "/bad/";

TEST(ImageLoading, RefusesEveryBrokenFileWithItsNameAndTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"empty.png", "empty file"},
      {"cut_header.png", "cannot decode"},
      {"text_as.jpg", "not a readable image"},
      {"truncated.jpg", "truncated JPEG"},
      {"huge_dims.png", "exceeds the limit of 100000000 pixels"},
  };
  for (const auto& [file, reason] : cases) {
    const std::string path = kBad + file;
    try {
      load_image(path);
      ADD_FAILURE() << file << " was accepted";
    } catch (const InvalidArgument& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
      EXPECT_NE(message.find(reason), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    }
  }
  EXPECT_THROW(load_image(kBad + "missing.png"), InvalidArgument);
  EXPECT_THROW(load_image(kBad), InvalidArgument);  // a directory
}

TEST(ImageLoading, PixelLimitIsConfigurable) {
  EXPECT_THROW(load_image(kImages + "cat.png", {.max_pixels = 1000}), InvalidArgument);
  EXPECT_EQ(load_image(kImages + "cat.png").width, 451);
}

TEST(ImageLoading, ReadsThePhotos) {
  const std::pair<const char*, std::pair<int, int>> sizes[] = {
      {"cat.png", {451, 300}}, {"dog.jpg", {768, 576}}, {"bird.jpg", {0, 0}}};
  for (const auto& [file, size] : sizes) {
    const RgbImage image = load_image(kImages + file);
    if (size.first) {
      EXPECT_EQ(image.width, size.first) << file;
      EXPECT_EQ(image.height, size.second) << file;
    }
    EXPECT_EQ(image.pixels.size(), size_t(image.width * image.height * 3)) << file;
  }
}

TEST(ImageLoading, GreyAndRgbaBecomeRgb) {
  const std::string dir = std::filesystem::temp_directory_path().string();
  const unsigned char grey[4] = {0, 85, 170, 255};
  const unsigned char rgba[8] = {10, 20, 30, 0, 40, 50, 60, 255};
  ASSERT_TRUE(stbi_write_png((dir + "/saliency_grey.png").c_str(), 2, 2, 1, grey, 2));
  ASSERT_TRUE(stbi_write_png((dir + "/saliency_rgba.png").c_str(), 2, 1, 4, rgba, 8));
  const RgbImage g = load_image(dir + "/saliency_grey.png");
  EXPECT_EQ(g.pixels, (std::vector<uint8_t>{0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));
  const RgbImage c = load_image(dir + "/saliency_rgba.png");
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{10, 20, 30, 40, 50, 60}));  // alpha dropped
  std::filesystem::remove(dir + "/saliency_grey.png");
  std::filesystem::remove(dir + "/saliency_rgba.png");
}

// PNG decoding is lossless, so every step after it (PIL's fixed-point resize, the crop offsets,
// float32 normalization) must agree to the bit.
TEST(Preprocessing, EqualsTorchvisionOnAPng) {
  const Tensor ours = preprocess(load_image(kImages + "cat.png"));
  const Tensor theirs = weights::read_npy(SALIENCY_FIXTURE_DIR "/preprocess_cat.npy");
  EXPECT_EQ(testing::max_abs_difference(ours, theirs), 0.0);
}

// JPEG decoders differ (stb_image vs libjpeg-turbo's IDCT and chroma upsampling) by a few
// 8-bit levels on some pixels; one level is 1 / 255 / 0.225 = 0.0174 after normalization.
TEST(Preprocessing, CloseToTorchvisionOnAJpeg) {
  const Tensor ours = preprocess(load_image(kImages + "dog.jpg"));
  const Tensor theirs = weights::read_npy(SALIENCY_FIXTURE_DIR "/preprocess_dog.npy");
  const std::vector<double> x = ours.to_vector(), y = theirs.to_vector();
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) total += std::abs(x[i] - y[i]);
  const double mean_levels = total / double(x.size()) / 0.0174;
  // Measured: at most 2 levels, 0.10 on average.
  EXPECT_LE(testing::max_abs_difference(ours, theirs), 3 * 0.0175);
  EXPECT_LT(mean_levels, 0.25);
}

TEST(Preprocessing, ShorterSideAndCenterCropFollowTorchvision) {
  RgbImage image{5, 3, std::vector<uint8_t>(45, 100)};
  const RgbImage resized = resize_shorter_side(image, 6);
  EXPECT_EQ(resized.width, 10);  // int(6 * 5 / 3)
  EXPECT_EQ(resized.height, 6);
  for (uint8_t v : resized.pixels) EXPECT_EQ(v, 100);  // a flat image stays flat
  // (10 - 5) / 2 = 2.5 rounds half to even: 2.
  RgbImage ramp{10, 1, {}};
  for (int x = 0; x < 10; ++x) ramp.pixels.insert(ramp.pixels.end(), 3, uint8_t(x));
  EXPECT_EQ(center_crop(ramp, 1, 5).at(0, 0, 0), 2);
  EXPECT_THROW(center_crop(ramp, 2, 5), InvalidArgument);
}

}  // namespace
}  // namespace saliency
