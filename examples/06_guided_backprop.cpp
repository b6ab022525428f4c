// Example 06: guided backpropagation (Springenberg et al. 2015) is one changed backward rule.
//
// At a ReLU y = max(x, 0) with incoming gradient g = dL/dy, three rules give dL/dx:
//   gradient (the true derivative)   g where x > 0            (the forward pass decides)
//   deconvnet (Zeiler & Fergus 2014) g where g > 0            (the backward signal decides)
//   guided backprop                  g where x > 0 and g > 0  (both must agree)
// Everything else in the backward pass stays the usual gradient. This program writes the
// guided rule itself, as a few lines handed to the engine in a RuleSet, checks that it gives
// exactly the library's Method::GuidedBackprop, prints what each rule does to units of the
// deepest ReLU, and draws the three maps: guided backprop's is the sharpest, because dropping
// negative gradients at every layer keeps only the evidence that raises the class.
//
// Run: 06_guided_backprop [IMAGE [WEIGHTS]] [--out DIR]
#include <cstdio>

#include "autograd/ops.h"
#include "autograd/rules.h"
#include "core/error.h"
#include "core/factory.h"
#include "examples/common/example.h"
#include "saliency/visualize.h"

using namespace saliency;

namespace {

// What the deepest ReLU saw on the way back (the first one the backward pass reaches).
struct ReluRecord {
  std::vector<double> output, gradient;
};

// Guided backprop written out: keep g where the ReLU's output (so its input) was positive and
// g itself is positive. The first call's tensors go to `record`.
autograd::RuleSet guided_rule_by_hand(ReluRecord& record) {
  autograd::RuleSet rules("guided-by-hand");
  rules.set(autograd::OpKind::Relu,
            [&record](const autograd::Node& node, const Tensor& g, const autograd::InputMask&) {
              const Tensor& output = autograd::node_as<autograd::ReluNode>(node).output();
              std::vector<double> y = output.to_vector(), passed = g.to_vector();
              if (record.output.empty()) record = {y, passed};
              for (size_t i = 0; i < passed.size(); ++i)
                if (!(y[i] > 0 && passed[i] > 0)) passed[i] = 0;
              return autograd::TensorList{from_vector(output.shape(), passed)};
            });
  return rules;
}

// One unit of each kind: forward input positive or not, incoming gradient positive or not.
void print_rule_table(const ReluRecord& record) {
  if (record.output.empty()) {
    std::printf("the model has no ReLU (a ViT's MLPs use GELU): guided backprop is its gradient\n");
    return;
  }
  std::printf("%-24s %10s %10s %10s %10s\n", "unit of the deepest ReLU", "g in", "gradient",
              "deconvnet", "guided");
  for (int x_positive = 1; x_positive >= 0; --x_positive)
    for (int g_positive = 1; g_positive >= 0; --g_positive)
      for (size_t i = 0; i < record.output.size(); ++i) {
        const double y = record.output[i], g = record.gradient[i];
        if ((y > 0) != bool(x_positive) || (g > 0) != bool(g_positive) || g == 0) continue;
        std::printf("#%-6zu x %-16s %10.3g %10.3g %10.3g %10.3g\n", i, x_positive ? "> 0" : "<= 0",
                    g, y > 0 ? g : 0.0, g > 0 ? g : 0.0, y > 0 && g > 0 ? g : 0.0);
        break;
      }
  size_t forward_open = 0, backward_open = 0, both = 0;
  for (size_t i = 0; i < record.output.size(); ++i) {
    forward_open += record.output[i] > 0;
    backward_open += record.gradient[i] > 0;
    both += record.output[i] > 0 && record.gradient[i] > 0;
  }
  const double n = double(record.output.size()) / 100;
  std::printf("units passing: gradient %.0f%%, deconvnet %.0f%%, guided %.0f%% of %zu\n",
              forward_open / n, backward_open / n, both / n, record.output.size());
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "06_guided_backprop");
  const int64_t target = top_class(s.classifier, s.input);
  const int64_t height = s.input.size(2), width = s.input.size(3);

  ReluRecord record;
  const autograd::RuleSet by_hand = guided_rule_by_hand(record);
  const Tensor guided = input_gradients(s.classifier, s.input, {target}, &by_hand);
  const Explanation library = explain(s.classifier, s.input, Method::GuidedBackprop, target);
  const double difference = examples::max_abs_difference(guided, library.attribution);
  std::printf("the rule by hand differs from Method::GuidedBackprop by %g\n", difference);
  print_rule_table(record);

  std::vector<RgbImage> panels = {s.picture};
  for (Method method : {Method::Vanilla, Method::Deconvnet, Method::GuidedBackprop}) {
    const Explanation e = explain(s.classifier, s.input, method, target);
    const auto map = reduce_to_map(e.attribution, ChannelReduction::MaxAbs, height, width);
    panels.push_back(colorize(map, height, width, "inferno", false, 99.0));
  }
  examples::save(s, "06_guided_backprop.png", side_by_side(panels));
  return difference == 0 ? 0 : 1;
} catch (const Error& e) {
  std::fprintf(stderr, "06_guided_backprop: %s\n", e.what());
  return 2;
}
