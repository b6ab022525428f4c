// A tour of the engine: a tiny network, the gradient of one logit with respect to the image,
// the same gradient under the guided-backprop rule set, and a tapped activation.
// Built with the project and run by ctest (examples.engine_tour).
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "autograd/rules.h"
#include "autograd/tap.h"
#include "core/factory.h"
#include "saliency/relu_rules.h"

using namespace saliency;

int main() {
  Generator gen(0);
  const Tensor w = randn({8, 3, 3, 3}, gen), fc = randn({10, 8}, gen);
  auto network = [&](const Tensor& image) {
    const Tensor features =
        autograd::tap_point("features", relu(conv2d(image, w, {}, {.padding = 1})));
    return linear(flatten(adaptive_avg_pool2d(features, 1)), fc);
  };

  Tensor image = randn({1, 3, 32, 32}, gen).set_requires_grad(true);
  autograd::TapScope taps({"features"});
  const Tensor logits = network(image);
  autograd::backward(select(logits, 1, 3), ones({1}));  // d logit_3 / d image
  std::printf("vanilla gradient: d logit_3 / d pixel (0, 0, 5, 5) = %.6f\n",
              image.grad().at({0, 0, 5, 5}));
  std::printf("tap 'features': value %s, gradient %s\n",
              taps["features"].value().shape().str().c_str(),
              taps["features"].grad().shape().str().c_str());

  Tensor guided_image = image.detach().clone().set_requires_grad(true);
  {
    autograd::RuleScope guided(guided_backprop_rules());  // ReLU's backward replaced here
    autograd::backward(select(network(guided_image), 1, 3), ones({1}));
  }
  std::printf("guided backprop:  same pixel = %.6f\n", guided_image.grad().at({0, 0, 5, 5}));
  return 0;
}
