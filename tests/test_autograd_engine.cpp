#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/rules.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using autograd::backward;
using autograd::OpKind;

Tensor scalar_leaf(double v) {
  return from_vector({1}, {v}, DType::Float64).set_requires_grad(true);
}

// d = (a*b) + (a+b), with a feeding both branches: dd/da = b + 1, dd/db = a + 1.
TEST(Engine, DiamondGraph) {
  Tensor a = scalar_leaf(3), b = scalar_leaf(-2);
  backward(add(mul(a, b), add(a, b)));
  EXPECT_DOUBLE_EQ(a.grad().item(), -1);
  EXPECT_DOUBLE_EQ(b.grad().item(), 4);
}

TEST(Engine, TensorUsedTwiceAndAliasedGradients) {
  Tensor x = scalar_leaf(5);
  backward(add(x, x));  // add passes its gradient to both operands: same tensor twice
  EXPECT_DOUBLE_EQ(x.grad().item(), 2);
  Tensor y = scalar_leaf(5);
  backward(mul(y, y));
  EXPECT_DOUBLE_EQ(y.grad().item(), 10);
}

TEST(Engine, GradientsAccumulateAcrossPassesLikeLeavesInPyTorch) {
  Tensor x = scalar_leaf(2);
  backward(square(x));
  backward(square(x));
  EXPECT_DOUBLE_EQ(x.grad().item(), 8);
  x.set_grad(Tensor());
  backward(mul_scalar(x, 3));
  EXPECT_DOUBLE_EQ(x.grad().item(), 3);
}

TEST(Engine, NoGradScopeRecordsNothing) {
  Tensor x = scalar_leaf(2);
  {
    autograd::NoGradGuard no_grad;
    const Tensor y = square(x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(autograd::GradMode::enabled());
  EXPECT_TRUE(square(x).requires_grad());
  EXPECT_FALSE(square(zeros({1})).requires_grad());  // no input requires grad
}

TEST(Engine, GraphIsFreedAfterBackwardUnlessRetained) {
  Tensor x = scalar_leaf(2);
  const Tensor y = mul(square(x), x);
  backward(y, {}, {.retain_graph = true});
  backward(y);
  EXPECT_DOUBLE_EQ(x.grad().item(), 24);  // 2 * 3x^2
  try {
    backward(y);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
}

TEST(Engine, SeedSelectsTheOutputGradient) {
  Tensor x = from_vector({3}, {1, 2, 3}, DType::Float64).set_requires_grad(true);
  backward(square(x), from_vector({3}, {1, 0, -1}, DType::Float64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 0, -6}));
  EXPECT_THROW(backward(square(x)), InvalidArgument);  // no seed for a 3-element output
  EXPECT_THROW(backward(square(x), zeros({2}, DType::Float64)), InvalidArgument);
  EXPECT_THROW(backward(square(zeros({1}))), InvalidArgument);  // nothing requires grad
}

TEST(Engine, GradReturnsWithoutAccumulating) {
  Tensor x = scalar_leaf(3), w = scalar_leaf(4);
  const Tensor h = mul(x, w);
  const autograd::TensorList g = autograd::grad(square(h), {x, h});
  EXPECT_DOUBLE_EQ(g[0].item(), 2 * 12 * 4);
  EXPECT_DOUBLE_EQ(g[1].item(), 24);
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  Tensor unrelated = scalar_leaf(1);
  EXPECT_FALSE(autograd::grad(square(x), {unrelated})[0].defined());
}

// Records which input gradients the engine asked conv2d for.
struct MaskRecorder {
  std::vector<autograd::InputMask> masks;
  autograd::RuleSet rules() {
    autograd::RuleSet set("mask-recorder");
    set.set(OpKind::Conv2d,
            [this](const autograd::Node& node, const Tensor& g, const autograd::InputMask& needs) {
              masks.push_back(needs);
              return node.default_backward(g, needs);
            });
    return set;
  }
};

TEST(Engine, FrozenWeightsCostNoWeightGradient) {
  Generator gen(1);
  const Tensor w = randn({4, 3, 3, 3}, gen), b = randn({4}, gen);
  Tensor x = randn({1, 3, 8, 8}, gen).set_requires_grad(true);
  MaskRecorder recorder;
  {
    autograd::RuleScope scope(recorder.rules());
    backward(sum(conv2d(x, w, b, {.padding = 1})));
  }
  ASSERT_EQ(recorder.masks.size(), 1u);
  EXPECT_EQ(recorder.masks[0], (autograd::InputMask{true, false, false}));
  EXPECT_FALSE(w.grad().defined());

  // Trainable weights but a frozen input: only weight and bias gradients.
  Tensor w2 = w.clone().set_requires_grad(true), b2 = b.clone().set_requires_grad(true);
  {
    autograd::RuleScope scope(recorder.rules());
    backward(sum(conv2d(x.detach(), w2, b2, {.padding = 1})));
  }
  EXPECT_EQ(recorder.masks[1], (autograd::InputMask{false, true, true}));
  EXPECT_TRUE(w2.grad().defined() && b2.grad().defined());
}

TEST(Engine, GradOfAnIntermediateStopsThere) {
  Generator gen(2);
  const Tensor w1 = randn({4, 3, 3, 3}, gen), w2 = randn({2, 4, 3, 3}, gen);
  Tensor x = randn({1, 3, 8, 8}, gen).set_requires_grad(true);
  const Tensor h = relu(conv2d(x, w1, {}, {.padding = 1}));
  const Tensor y = sum(conv2d(h, w2, {}, {.padding = 1}));
  MaskRecorder recorder;
  autograd::RuleScope scope(recorder.rules());
  const Tensor dh = autograd::grad(y, {h})[0];
  EXPECT_EQ(dh.shape(), h.shape());
  // Only the second conv ran, and it computed no weight gradient; the first conv, relu and
  // the input's accumulator were pruned.
  ASSERT_EQ(recorder.masks.size(), 1u);
  EXPECT_EQ(recorder.masks[0], (autograd::InputMask{true, false, false}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(Engine, DeepChainDoesNotOverflowTheStack) {
  Tensor x = scalar_leaf(1);
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = add_scalar(y, 1e-3);
  backward(y);
  EXPECT_DOUBLE_EQ(x.grad().item(), 1);
}

// A small network checked end to end in float64 against finite differences.
TEST(Engine, SmallResidualNetworkGradients) {
  const Tensor w1 = testing::random64({4, 2, 3, 3}, 1), w2 = testing::random64({4, 4, 3, 3}, 2);
  const Tensor fc = testing::random64({3, 4}, 3);
  const Tensor mean = testing::random64({4}, 4), var = full({4}, 1.5, DType::Float64);
  EXPECT_TRUE(testing::gradcheck(
      [&](const std::vector<Tensor>& in) {
        Tensor h = relu(batch_norm2d(conv2d(in[0], w1, {}, {.padding = 1}), {}, {}, mean, var));
        h = max_pool2d(h, {.kernel = 2});
        h = relu(add(h, conv2d(h, w2, {}, {.padding = 1})));
        return log_softmax(linear(flatten(adaptive_avg_pool2d(h, 1)), fc), 1);
      },
      {testing::random64({2, 2, 6, 6}, 5)}));
}

}  // namespace
}  // namespace saliency
