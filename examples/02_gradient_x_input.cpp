// Example 02: gradient x input, next to the vanilla gradient of example 01.
//
// attribution[c, i, j] = x[c, i, j] * d y_t / d x[c, i, j]: the first-order Taylor term of
// each input, signed (red raises the logit, blue lowers it), summed over channels per pixel.
// Where the input is zero (here: the mean colour) it is zero whatever the gradient says, which
// is its blind spot; where the model is nearly linear its sum approaches y_t(x) - y_t(0).
//
// Run: 02_gradient_x_input [IMAGE [WEIGHTS]] [--out DIR]
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "examples/common/example.h"
#include "saliency/sanity.h"
#include "saliency/visualize.h"

using namespace saliency;

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "02_gradient_x_input");
  const int64_t target = top_class(s.classifier, s.input);
  const int64_t height = s.input.size(2), width = s.input.size(3);

  const Explanation vanilla = explain(s.classifier, s.input, Method::Vanilla, target);
  const Explanation gxi = explain(s.classifier, s.input, Method::GradientXInput, target);
  const std::vector<float> vanilla_map =
      reduce_to_map(vanilla.attribution, ChannelReduction::MaxAbs, height, width);
  const std::vector<float> gxi_map =
      reduce_to_map(gxi.attribution, ChannelReduction::Sum, height, width);

  // How far the Taylor sum is from the logit's change between the image and a zero image.
  double at_image = 0, at_zero = 0;
  {
    autograd::NoGradGuard inference;
    at_image = s.classifier(s.input).at({0, target});
    at_zero = s.classifier(zeros(s.input.shape())).at({0, target});
  }
  std::vector<float> gxi_abs(gxi_map);
  for (float& v : gxi_abs) v = std::abs(v);
  std::printf("class %lld: sum(gradient x input) %.4f vs y(x) - y(0) = %.4f\n",
              static_cast<long long>(target), sum(gxi.attribution).item(), at_image - at_zero);
  std::printf("rank correlation of |gradient x input| with the vanilla map: %.3f\n",
              spearman_correlation(gxi_abs, vanilla_map));
  examples::save(
      s, "02_gradient_x_input.png",
      side_by_side(
          {s.picture,
           overlay(s.picture, colorize(vanilla_map, height, width, "inferno", false, 99.0)),
           overlay(s.picture, colorize(gxi_map, height, width, "coolwarm", true, 99.0))}));
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "02_gradient_x_input: %s\n", e.what());
  return 2;
}
