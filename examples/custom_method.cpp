// A new saliency method as a backward rule, in a few lines: RectGrad (Kim et al. 2019,
// "Why are saliency maps noisy? Cause of and solution to noisy saliency maps").
//
// Vanilla gradients pass through a ReLU wherever its output is positive. RectGrad also drops
// the units whose importance, output * incoming gradient, is below the q-th percentile of the
// layer, so only the strongest evidence flows back. Nothing else changes: the rule replaces
// ReLU's backward while a RuleScope is alive, and the usual input_gradients call does the rest.
//
// Run: custom_method [q] [images]  (defaults 90, 100). It compares the method with the vanilla
// gradient on the embedded shapes model by the pointing game on the object's pixels.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "autograd/ops.h"
#include "autograd/rules.h"
#include "core/factory.h"
#include "datasets/shapes.h"
#include "saliency/demo_model.h"
#include "saliency/methods.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"

using namespace saliency;

autograd::RuleSet rectgrad_rules(double percentile) {
  autograd::RuleSet rules("rectgrad");
  rules.set(
      autograd::OpKind::Relu, [percentile](const autograd::Node& node, const Tensor& grad_output,
                                           const autograd::InputMask&) {
        const Tensor& output = autograd::node_as<autograd::ReluNode>(node).output();
        std::vector<double> importance = mul(output, grad_output).to_vector();
        std::vector<double> sorted = importance;
        const size_t rank = static_cast<size_t>(percentile / 100.0 * double(sorted.size() - 1));
        std::nth_element(sorted.begin(), sorted.begin() + rank, sorted.end());
        const double threshold = sorted[rank];
        for (double& value : importance) value = value > threshold ? 1.0 : 0.0;  // the kept units
        return autograd::TensorList{mul(grad_output, from_vector(output.shape(), importance))};
      });
  return rules;
}

int main(int argc, char** argv) {
  const double percentile = argc > 1 ? std::atof(argv[1]) : 90.0;
  const LoadedModel model = load_shapes_model();
  const Classifier classifier = [&](const Tensor& x) { return model.network->forward(x); };
  const autograd::RuleSet rectgrad = rectgrad_rules(percentile);

  int vanilla_hits = 0, rectgrad_hits = 0;
  const int images = argc > 2 ? std::max(1, std::atoi(argv[2])) : 100;
  for (int i = 0; i < images; ++i) {
    const auto sample = datasets::make_shape_sample(datasets::kShapesTestSeed, uint64_t(i));
    const Tensor input = to_tensor(sample.image);
    auto hit = [&](const autograd::RuleSet* rules) {
      const Tensor gradient = input_gradients(classifier, input, {sample.label}, rules);
      const auto map = reduce_to_map(gradient, ChannelReduction::MaxAbs, 64, 64);
      return pointing_game_hit_mask(map, 64, 64, sample.mask, 1.0);
    };
    vanilla_hits += hit(nullptr);
    rectgrad_hits += hit(&rectgrad);
  }
  std::printf("pointing game on the object (%d images): vanilla %d%%, rectgrad (q = %.0f) %d%%\n",
              images, 100 * vanilla_hits / images, percentile, 100 * rectgrad_hits / images);
  return 0;
}
