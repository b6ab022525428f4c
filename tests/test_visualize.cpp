// Baselines and pictures: what the explain command draws.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/baselines.h"
#include "saliency/visualize.h"

namespace saliency {
namespace {

TEST(Baselines, EachKindHasTheInputsShapeAndItsMeaning) {
  Generator gen(3);
  const Tensor x = randn({1, 3, 20, 16}, gen);
  EXPECT_EQ(make_baseline("zero", x).to_vector(), std::vector<double>(x.numel(), 0.0));
  const Tensor black = make_baseline("black", x);
  EXPECT_NEAR(black.at({0, 0, 3, 4}), -0.485 / 0.229, 1e-6);
  EXPECT_NEAR(black.at({0, 2, 19, 15}), -0.406 / 0.225, 1e-6);
  const Tensor blurred = make_baseline("blur", x);
  EXPECT_EQ(blurred.shape(), x.shape());
  EXPECT_LT(sum(square(blurred)).item(), sum(square(x)).item());  // smoother, less energy
  const Tensor uniform = make_baseline("uniform", x, 5);
  const std::vector<double> v = x.to_vector(), u = uniform.to_vector();
  EXPECT_GE(*std::min_element(u.begin(), u.end()), *std::min_element(v.begin(), v.end()));
  EXPECT_LE(*std::max_element(u.begin(), u.end()), *std::max_element(v.begin(), v.end()));
  EXPECT_EQ(make_baseline("uniform", x, 5).to_vector(), u);  // seeded
  EXPECT_THROW(make_baseline("grey", x), InvalidArgument);
}

TEST(Visualize, ChannelReductionAndUpsampling) {
  const Tensor attribution = from_vector({1, 3, 1, 2}, {1, -2, -5, 1, 3, 0});
  EXPECT_EQ(reduce_to_map(attribution, ChannelReduction::MaxAbs, 1, 2), (std::vector<float>{5, 2}));
  EXPECT_EQ(reduce_to_map(attribution, ChannelReduction::Sum, 1, 2), (std::vector<float>{-1, -1}));
  const Tensor cam = from_vector({1, 1, 1, 1}, {2});
  EXPECT_EQ(reduce_to_map(cam, ChannelReduction::MaxAbs, 2, 3), std::vector<float>(6, 2.0f));
  EXPECT_EQ(default_reduction(Method::IntegratedGradients), ChannelReduction::Sum);
  EXPECT_EQ(default_reduction(Method::SmoothGrad), ChannelReduction::MaxAbs);
}

TEST(Visualize, ColormapsSpanTheirRangeAndClipAtThePercentile) {
  // 100 values 0..99: the 99th percentile is 98, so 98 and 99 both reach the top colour.
  std::vector<float> ramp(100);
  for (int i = 0; i < 100; ++i) ramp[i] = float(i);
  const RgbImage heat = colorize(ramp, 10, 10, "viridis", false);
  EXPECT_EQ(heat.at(0, 0, 0), 68);   // viridis starts dark purple
  EXPECT_EQ(heat.at(9, 9, 1), 231);  // and ends yellow
  EXPECT_EQ(heat.at(9, 8, 1), 231);
  // Signed maps put zero at the centre of the diverging map.
  const RgbImage signed_heat = colorize({-1.0f, 0.0f, 1.0f}, 1, 3, "coolwarm", true, 100);
  EXPECT_EQ(signed_heat.at(0, 0, 2), 192);  // blue end
  EXPECT_EQ(signed_heat.at(0, 1, 0), 221);  // neutral grey
  EXPECT_EQ(signed_heat.at(0, 2, 0), 180);  // red end
  EXPECT_THROW(colorize(ramp, 10, 10, "rainbow", false), InvalidArgument);
}

TEST(Visualize, CaptionsAddAWhiteBandWithDarkText) {
  const RgbImage panel{40, 10, std::vector<uint8_t>(40 * 10 * 3, 77)};
  const RgbImage captioned = with_caption(panel, {"gradcam", "0.12 s"});
  EXPECT_EQ(captioned.width, 40);
  EXPECT_EQ(captioned.height, 10 + 8 + 2 * 24);
  EXPECT_TRUE(std::equal(panel.pixels.begin(), panel.pixels.end(), captioned.pixels.begin()));
  const auto band = captioned.pixels.begin() + panel.pixels.size();
  EXPECT_GT(std::count(band, captioned.pixels.end(), 0), 50);     // ink
  EXPECT_GT(std::count(band, captioned.pixels.end(), 255), 500);  // paper
}

TEST(Visualize, PicturesRoundTripThroughPng) {
  const Tensor x = full({1, 3, 2, 2}, 0.0);  // normalized zero: the ImageNet mean colour
  const RgbImage picture = to_image(x);
  EXPECT_EQ(picture.at(0, 0, 0), 124);  // round(0.485 * 255)
  const RgbImage both = side_by_side({picture, overlay(picture, picture)}, 1);
  EXPECT_EQ(both.width, 5);
  const std::string path = (std::filesystem::temp_directory_path() / "saliency_test.png").string();
  write_png(path, both);
  const RgbImage back = load_image(path);
  EXPECT_EQ(back.width, 5);
  EXPECT_EQ(back.height, 2);
  EXPECT_EQ(back.pixels, both.pixels);  // PNG is lossless
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace saliency
