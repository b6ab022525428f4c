#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(ResizeBilinear, GradientsUpAndDown) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return resize_bilinear(in[0], 7, 9); },
                        {random64({1, 2, 3, 4}, 1)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return resize_bilinear(in[0], 3, 2); },
                        {random64({2, 1, 7, 5}, 2)}));
}

// F.interpolate([[1, 2], [3, 4]], size=(4, 4), mode="bilinear", align_corners=False).
TEST(ResizeBilinear, MatchesPyTorchOnASmallExample) {
  const Tensor x = from_vector({1, 1, 2, 2}, {1, 2, 3, 4}, DType::Float64);
  const std::vector<double> expected{1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5,
                                     2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0};
  const std::vector<double> got = resize_bilinear(x, 4, 4).to_vector();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_DOUBLE_EQ(got[i], expected[i]) << i;
  // Downsampling 4 -> 2 samples at source 0.5 and 2.5.
  const Tensor row = from_vector({1, 1, 1, 4}, {0, 1, 2, 3}, DType::Float64);
  EXPECT_EQ(resize_bilinear(row, 1, 2).to_vector(), (std::vector<double>{0.5, 2.5}));
}

TEST(ResizeNearest, GradientsUpAndDown) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return resize_nearest(in[0], 7, 9); },
                        {random64({1, 2, 3, 4}, 4)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return resize_nearest(in[0], 3, 2); },
                        {random64({2, 1, 7, 5}, 5)}));
}

// F.interpolate(..., mode="nearest"): 2 -> 5 reads rows 0, 0, 0, 1, 1; 5 -> 2 reads 0 and 2.
TEST(ResizeNearest, MatchesPyTorchIndexing) {
  const Tensor x = from_vector({1, 1, 1, 2}, {1, 2}, DType::Float64);
  EXPECT_EQ(resize_nearest(x, 1, 5).to_vector(), (std::vector<double>{1, 1, 1, 2, 2}));
  const Tensor row = from_vector({1, 1, 1, 5}, {0, 1, 2, 3, 4}, DType::Float64);
  EXPECT_EQ(resize_nearest(row, 1, 2).to_vector(), (std::vector<double>{0, 2}));
}

TEST(GaussianBlur, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return gaussian_blur(in[0], 5, 1.3); },
                        {random64({1, 2, 6, 7}, 3)}));
}

// torchvision's 3-tap kernel for sigma = 1 is [0.27406862, 0.45186276, 0.27406862]; an
// impulse in the middle reproduces its outer product.
TEST(GaussianBlur, KernelMatchesTorchvision) {
  Tensor impulse = zeros({1, 1, 5, 5}, DType::Float64);
  impulse.set({0, 0, 2, 2}, 1.0);
  const Tensor blurred = gaussian_blur(impulse, 3, 1.0);
  EXPECT_NEAR(blurred.at({0, 0, 2, 2}), 0.45186276 * 0.45186276, 1e-8);
  EXPECT_NEAR(blurred.at({0, 0, 1, 2}), 0.27406862 * 0.45186276, 1e-8);
  EXPECT_NEAR(blurred.at({0, 0, 1, 1}), 0.27406862 * 0.27406862, 1e-8);
  EXPECT_DOUBLE_EQ(blurred.at({0, 0, 0, 0}), 0.0);
  // A constant image stays constant (weights sum to one; reflection keeps the border).
  const std::vector<double> flat =
      gaussian_blur(full({1, 1, 4, 6}, 2.0, DType::Float64), 5, 2.0).to_vector();
  for (double v : flat) EXPECT_NEAR(v, 2.0, 1e-12);
}

TEST(GaussianBlur, RejectsKernelsTooLargeForTheImage) {
  EXPECT_THROW(gaussian_blur(zeros({1, 1, 2, 8}), 5, 1.0), InvalidArgument);
  EXPECT_THROW(gaussian_blur(zeros({1, 1, 8, 8}), 4, 1.0), InvalidArgument);
}

}  // namespace
}  // namespace saliency
