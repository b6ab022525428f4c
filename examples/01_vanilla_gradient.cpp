// Example 01: the vanilla gradient (Simonyan, Vedaldi & Zisserman 2013), one step at a time.
//
// The saliency of pixel (i, j) is max over colour channels c of |d y_t / d x[c, i, j]|, where
// y_t is the target class's logit (before softmax). Below, each step is one engine call:
// mark the input as needing a gradient, run the forward pass (the engine records the graph),
// seed the backward pass with 1 at the target logit, and read the input's gradient.
//
// Run: 01_vanilla_gradient [IMAGE [WEIGHTS]] [--out DIR]
#include <cmath>
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "examples/common/example.h"
#include "saliency/visualize.h"

using namespace saliency;

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "01_vanilla_gradient");

  // 1. A leaf that requires grad: every op applied to it is recorded.
  const Tensor x = s.input.detach().set_requires_grad(true);
  // 2. Forward: logits [1, classes]; the target is the top class.
  const Tensor logits = s.model.network->forward(x);
  const int64_t target = top_class(s.classifier, s.input);
  // 3. Backward from the target logit alone: the seed is d y_t / d logits = one-hot(t).
  Tensor seed = zeros(logits.shape());
  seed.set({0, target}, 1.0);
  const Tensor gradient = autograd::grad(logits, {x}, seed)[0];  // [1, 3, H, W]
  // 4. |gradient|, max over channels: one value per pixel.
  const int64_t height = x.size(2), width = x.size(3);
  const std::vector<float> map = reduce_to_map(gradient, ChannelReduction::MaxAbs, height, width);

  // The library's Method::Vanilla is exactly these steps.
  const Explanation library = explain(s.classifier, s.input, Method::Vanilla, target);
  const std::vector<float> same =
      reduce_to_map(library.attribution, ChannelReduction::MaxAbs, height, width);
  const double largest_difference = examples::max_abs_difference(map, same);

  std::printf("class %lld (%s), logit %.4f; gradient norm %.4g; differs from explain() by %g\n",
              static_cast<long long>(target), s.model.info.label(target).c_str(),
              logits.at({0, target}), std::sqrt(sum(square(gradient)).item()), largest_difference);
  const RgbImage heat = colorize(map, height, width, "inferno", false, 99.0);
  examples::save(s, "01_vanilla_gradient.png", side_by_side({s.picture, overlay(s.picture, heat)}));
  return largest_difference == 0 ? 0 : 1;
} catch (const Error& e) {
  std::fprintf(stderr, "01_vanilla_gradient: %s\n", e.what());
  return 2;
}
