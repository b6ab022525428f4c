#include <gtest/gtest.h>

#include <optional>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "autograd/rules.h"
#include "autograd/tap.h"
#include "autograd/trace.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/relu_rules.h"

namespace saliency {
namespace {

using autograd::OpKind;

// y = sum(relu(x * w1) * w2) with x = [1, -2, 3, 0.5], w1 = [1, 1, -1, 2], w2 = [2, 3, 4, -1].
// Pre-activations [1, -2, -3, 1], so relu passes positions 0 and 3; dy/dh = w2.
//   exact:     mask [1,0,0,1] * w2 = [2, 0, 0, -1]      -> times w1: [2, 0, 0, -2]
//   guided:    also drop negative gradients: [2, 0, 0, 0] -> times w1: [2, 0, 0, 0]
//   deconvnet: relu(w2) = [2, 3, 4, 0]                    -> times w1: [2, 3, -4, 0]
std::vector<double> input_gradient() {
  Tensor x = from_vector({4}, {1, -2, 3, 0.5}).set_requires_grad(true);
  const Tensor w1 = from_vector({4}, {1, 1, -1, 2}), w2 = from_vector({4}, {2, 3, 4, -1});
  autograd::backward(sum(mul(relu(mul(x, w1)), w2)));
  return x.grad().to_vector();
}

TEST(ReluRules, HandComputedExactGuidedAndDeconvnet) {
  EXPECT_EQ(input_gradient(), (std::vector<double>{2, 0, 0, -2}));
  {
    autograd::RuleScope guided(guided_backprop_rules());
    EXPECT_EQ(input_gradient(), (std::vector<double>{2, 0, 0, 0}));
  }
  {
    autograd::RuleScope deconvnet(deconvnet_rules());
    EXPECT_EQ(input_gradient(), (std::vector<double>{2, 3, -4, 0}));
  }
  EXPECT_EQ(input_gradient(), (std::vector<double>{2, 0, 0, -2}));  // restored
}

// Two stacked ReLUs: the rule applies at each. h1 = relu(x), y = sum(relu(h1 * a) * b).
TEST(ReluRules, ApplyAtEveryRelu) {
  auto gradient = [] {
    Tensor x = from_vector({3}, {1, 2, -1}).set_requires_grad(true);
    const Tensor a = from_vector({3}, {-1, 1, 1}), b = from_vector({3}, {1, -1, 1});
    autograd::backward(sum(mul(relu(mul(relu(x), a)), b)));
    return x.grad().to_vector();
  };
  // h1 = [1, 2, 0]; pre2 = [-1, 2, 0]; relu2 passes index 1 only; grad there = b[1] = -1.
  EXPECT_EQ(gradient(), (std::vector<double>{0, -1, 0}));
  autograd::RuleScope deconvnet(deconvnet_rules());
  // relu(b) = [1, 0, 1] -> times a = [-1, 0, 1] -> relu = [0, 0, 1].
  EXPECT_EQ(gradient(), (std::vector<double>{0, 0, 1}));
}

TEST(RuleScopes, NestAndRestore) {
  EXPECT_EQ(autograd::active_rule_name(OpKind::Relu), "default");
  {
    autograd::RuleScope outer(guided_backprop_rules());
    autograd::RuleSet conv_only("conv-only");
    conv_only.set(OpKind::Conv2d,
                  [](const autograd::Node& n, const Tensor& g, const autograd::InputMask& m) {
                    return n.default_backward(g, m);
                  });
    {
      autograd::RuleScope inner(conv_only);
      EXPECT_EQ(autograd::active_rule_name(OpKind::Conv2d), "conv-only");
      EXPECT_EQ(autograd::active_rule_name(OpKind::Relu), "guided-backprop");  // falls through
      {
        autograd::RuleScope innermost(deconvnet_rules());
        EXPECT_EQ(autograd::active_rule_name(OpKind::Relu), "deconvnet");
      }
      EXPECT_EQ(autograd::active_rule_name(OpKind::Relu), "guided-backprop");
    }
    EXPECT_EQ(autograd::active_rule_name(OpKind::Conv2d), "default");
  }
  EXPECT_EQ(autograd::active_rule_name(OpKind::Relu), "default");
  EXPECT_EQ(autograd::active_rule(OpKind::Relu), nullptr);
}

// relu_max_pool2d records the two ops (a ReLU keeping its input, then the pooling). With no rule
// the engine runs a ReLU's backward inside the max pooling's after it, whichever op recorded
// them, with the bits of the separate ops (a trace keeps them apart, so it is the reference);
// guided backprop's and deconvnet's ReLU rules see a ReLU and its output as usual.
TEST(Engine, RunsAReluAndTheMaxPoolingAfterItInOnePass) {
  const Pool2dOptions pool{.kernel = 3, .stride = 2, .padding = 1};
  struct Run {
    std::vector<double> output, grad;
    autograd::BackwardReport report;
  };
  const auto run = [&](bool one_op, const autograd::RuleSet* rules) {
    Generator gen(31);
    Tensor x = randn({2, 3, 9, 10}, gen).set_requires_grad(true);
    const Tensor seed = randn({2, 3, 5, 5}, gen);
    const Tensor y = one_op ? relu_max_pool2d(x, pool) : max_pool2d(relu(x), pool);
    std::optional<autograd::RuleScope> scope;
    if (rules) scope.emplace(*rules);
    Run result;
    result.report = autograd::backward(y, seed);
    result.output = y.to_vector();
    result.grad = x.grad().to_vector();
    return result;
  };
  const auto traced = [&](bool one_op, const autograd::RuleSet* rules) {
    autograd::TraceScope trace;
    Run result = run(one_op, rules);
    EXPECT_EQ(trace.records().size(), 2u);  // relu_max_pool2d records and times the two ops
    EXPECT_EQ(trace.records()[0].op, "relu");
    EXPECT_EQ(trace.records()[1].op, "max_pool2d");
    return result;
  };
  const Run reference = traced(false, nullptr);
  EXPECT_EQ(reference.report.relus_fused, 0u);
  for (const bool one_op : {true, false}) {
    const Run fused = run(one_op, nullptr);
    EXPECT_EQ(fused.report.relus_fused, 1u) << "one op " << one_op;
    EXPECT_EQ(fused.report.nodes_run, reference.report.nodes_run);
    EXPECT_EQ(fused.output, reference.output);
    EXPECT_EQ(fused.grad, reference.grad) << "one op " << one_op;
    EXPECT_EQ(traced(one_op, nullptr).grad, reference.grad);
  }
  int64_t passed = 0;
  for (double g : reference.grad) passed += g != 0.0;
  EXPECT_GT(passed, 10);
  const autograd::RuleSet guided = guided_backprop_rules(), deconvnet = deconvnet_rules();
  for (const autograd::RuleSet* rules : {&guided, &deconvnet}) {
    const Run with_rule = run(true, rules);
    EXPECT_EQ(with_rule.report.relus_fused, 0u) << rules->name();
    EXPECT_EQ(with_rule.grad, run(false, rules).grad) << rules->name();
    EXPECT_NE(with_rule.grad, reference.grad) << rules->name();  // the rule changed something
  }
}

// conv -> ReLU -> conv, the inside of a ResNet block; `also` adds a second consumer of the ReLU.
Tensor conv_relu_conv(const Tensor& x, const Tensor& w1, const Tensor& w2, bool also = false) {
  const Tensor h = relu(conv2d(x, w1, {}, {.padding = 1}));
  const Tensor y = sum(mul(conv2d(h, w2, {}, {.padding = 1}), conv2d(x, w2, {}, {.padding = 1})));
  return also ? add(y, sum(h)) : y;
}

struct GradientRun {
  std::vector<double> grad;
  autograd::BackwardReport report;
};

GradientRun input_gradient_of(bool second_consumer) {
  Generator gen(21);
  Tensor x = randn({2, 4, 7, 6}, gen).set_requires_grad(true);
  const Tensor w1 = randn({4, 4, 3, 3}, gen), w2 = randn({4, 4, 3, 3}, gen);
  const autograd::BackwardReport report =
      autograd::backward(conv_relu_conv(x, w1, w2, second_consumer));
  return {x.grad().to_vector(), report};
}

// A ReLU whose last consumer to run is a convolution has its backward run inside the
// convolution's, after adding what the other consumers sent, with the same bits as the separate
// ops (a trace turns the fusion off, so it is the reference). A rule on ReLU (guided backprop) or
// a capture of the ReLU's gradient keeps the ops apart.
TEST(Engine, FusesAReluIntoTheConvolutionThatConsumesItLast) {
  for (const bool second_consumer : {false, true}) {
    const GradientRun fused = input_gradient_of(second_consumer);
    EXPECT_EQ(fused.report.relus_fused, 1u) << "second consumer " << second_consumer;
    GradientRun separate;
    {
      autograd::TraceScope trace;
      separate = input_gradient_of(second_consumer);
    }
    EXPECT_EQ(separate.report.relus_fused, 0u);
    EXPECT_EQ(fused.grad, separate.grad) << "second consumer " << second_consumer;
    EXPECT_EQ(fused.report.nodes_run, separate.report.nodes_run);
    EXPECT_EQ(fused.report.nodes_pruned, separate.report.nodes_pruned);
  }
  EXPECT_NE(input_gradient_of(true).grad, input_gradient_of(false).grad);  // the sum mattered

  {
    autograd::RuleScope guided(guided_backprop_rules());
    EXPECT_EQ(input_gradient_of(false).report.relus_fused, 0u);
  }
  Generator gen(22);
  Tensor x = randn({1, 4, 5, 5}, gen).set_requires_grad(true);
  const Tensor w = randn({4, 4, 3, 3}, gen);
  const Tensor h = relu(conv2d(x, w, {}, {.padding = 1}));
  const Tensor y = sum(conv2d(h, w, {}, {.padding = 1}));
  // h's own gradient is asked for: it must reach the ReLU node, so nothing is fused.
  const autograd::TensorList both = autograd::grad(y, {h, x}, {}, {.retain_graph = true});
  ASSERT_TRUE(both[0].defined() && both[1].defined());
  const autograd::TensorList x_only = autograd::grad(y, {x});  // fused: the same bits
  EXPECT_EQ(x_only[0].to_vector(), both[1].to_vector());
}

// A model-like function with a named tap point in the middle.
Tensor tapped_model(const Tensor& x, const Tensor& w1, const Tensor& w2) {
  Tensor h = autograd::tap_point("block", relu(conv2d(x, w1, {}, {.padding = 1})));
  return sum(mul(conv2d(h, w2, {}, {.padding = 1}), h));
}

TEST(Taps, KeepValueAndGradientEvenWhenNothingBeforeRequiresGrad) {
  Generator gen(5);
  const Tensor x = randn({1, 2, 6, 5}, gen), w1 = randn({3, 2, 3, 3}, gen),
               w2 = randn({3, 3, 3, 3}, gen);
  autograd::TapScope taps({"block"});
  const Tensor y = tapped_model(x, w1, w2);
  ASSERT_TRUE(y.requires_grad());
  const autograd::BackwardReport report = autograd::backward(y);
  const autograd::Tap& block = taps["block"];
  ASSERT_TRUE(block.has_value() && block.has_grad());

  // Reference: the same gradient with the tapped activation as a leaf.
  Tensor h = block.value().clone().set_requires_grad(true);
  autograd::backward(sum(mul(conv2d(h, w2, {}, {.padding = 1}), h)));
  EXPECT_EQ(block.grad().to_vector(), h.grad().to_vector());
  EXPECT_GT(report.nodes_run, 0u);
}

// Counts conv2d backward calls while installed.
autograd::RuleSet conv_counter(int& calls) {
  autograd::RuleSet counter("counter");
  counter.set(OpKind::Conv2d,
              [&calls](const autograd::Node& n, const Tensor& g, const autograd::InputMask& m) {
                ++calls;
                return n.default_backward(g, m);
              });
  return counter;
}

TEST(Taps, FullBackwardStillReachesTheInput) {
  Generator gen(6);
  Tensor x = randn({1, 2, 6, 5}, gen).set_requires_grad(true);
  const Tensor w1 = randn({3, 2, 3, 3}, gen), w2 = randn({3, 3, 3, 3}, gen);
  autograd::TapScope taps({"block"});
  const Tensor y = tapped_model(x, w1, w2);
  int conv_backwards = 0;
  autograd::RuleScope scope(conv_counter(conv_backwards));
  autograd::backward(y);
  EXPECT_EQ(conv_backwards, 2);
  EXPECT_TRUE(x.grad().defined());
  EXPECT_TRUE(taps["block"].has_grad());
}

TEST(Taps, GradToTapPrunesEverythingBelow) {
  Generator gen(7);
  Tensor x = randn({1, 2, 6, 5}, gen).set_requires_grad(true);
  const Tensor w1 = randn({3, 2, 3, 3}, gen), w2 = randn({3, 3, 3, 3}, gen);
  int conv_backwards = 0;
  Tensor h =
      autograd::tap(relu(conv2d(x, w1, {}, {.padding = 1})), std::make_shared<autograd::Tap>("h"));
  const Tensor y = sum(mul(conv2d(h, w2, {}, {.padding = 1}), h));
  autograd::RuleScope scope(conv_counter(conv_backwards));
  const Tensor dh = autograd::grad(y, {h})[0];
  EXPECT_EQ(conv_backwards, 1);  // a pass that wants only the tap stops there
  EXPECT_FALSE(x.grad().defined());
  EXPECT_EQ(dh.shape(), h.shape());
}

TEST(Taps, UnrequestedNamesPassThroughAndScopesNest) {
  const Tensor x = ones({1, 1, 2, 2});
  EXPECT_TRUE(autograd::tap_point("anything", x).is_same(x));
  autograd::TapScope outer({"a"});
  {
    autograd::TapScope inner({"b"});
    autograd::tap_point("a", x);  // found in the outer scope
    autograd::tap_point("b", x);
    EXPECT_TRUE(inner["b"].has_value());
    EXPECT_THROW(inner["a"], InvalidArgument);
  }
  EXPECT_TRUE(outer["a"].has_value());
}

TEST(Taps, ALaterPassReplacesTheRecord) {
  autograd::TapScope scope({"h"});
  Tensor first = full({2}, 1.0).set_requires_grad(true);
  autograd::backward(sum(square(autograd::tap_point("h", first))));
  EXPECT_EQ(scope["h"].grad().to_vector(), (std::vector<double>{2, 2}));
  const Tensor second = full({2}, 3.0);
  autograd::tap_point("h", second);
  EXPECT_EQ(scope["h"].value().to_vector(), (std::vector<double>{3, 3}));
  EXPECT_FALSE(scope["h"].has_grad());
}

}  // namespace
}  // namespace saliency
