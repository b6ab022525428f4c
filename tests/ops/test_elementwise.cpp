#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cpu/elementwise.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(Elementwise, UnaryGradientsMatchFiniteDifferences) {
  const Tensor x = random64({2, 3, 4}, 1);
  EXPECT_TRUE(gradcheck([](const auto& in) { return relu(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return abs(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return square(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return scale_shift(in[0], -2.5, 0.75); }, {x}));
}

TEST(Elementwise, BroadcastingBinaryGradientsMatchFiniteDifferences) {
  const Tensor a = random64({2, 3, 4, 5}, 1), bias = random64({1, 3, 1, 1}, 2);
  EXPECT_TRUE(gradcheck([](const auto& in) { return add(in[0], in[1]); }, {a, bias}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return sub(in[0], in[1]); }, {a, bias}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return mul(in[0], in[1]); }, {a, bias}));
  // Both operands broadcast, and a lower-rank operand.
  EXPECT_TRUE(gradcheck([](const auto& in) { return mul(in[0], in[1]); },
                        {random64({3, 1}, 3), random64({1, 4}, 4)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return sub(in[0], in[1]); },
                        {random64({2, 3, 4}, 5), random64({4}, 6)}));
}

TEST(Elementwise, TensorUsedTwice) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return mul(in[0], in[0]); }, {random64({5}, 1)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return add(relu(in[0]), mul(in[0], in[1])); },
                        {random64({2, 3}, 2), random64({2, 3}, 3)}));
}

// Conventions at the kinks, pinned: relu'(0) = 0 and abs'(0) = 0, as PyTorch.
TEST(Elementwise, KinkConventions) {
  Tensor x = from_vector({3}, {-1, 0, 1}).set_requires_grad(true);
  autograd::backward(relu(x), ones({3}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 1}));
  Tensor y = from_vector({3}, {-1, 0, 1}).set_requires_grad(true);
  autograd::backward(abs(y), ones({3}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<double>{-1, 0, 1}));
}

TEST(Elementwise, ForwardValues) {
  const Tensor a = from_vector({2, 2}, {1, -2, 3, -4}), b = from_vector({2, 1}, {10, 20});
  EXPECT_EQ(add(a, b).to_vector(), (std::vector<double>{11, 8, 23, 16}));
  EXPECT_EQ(sub(a, b).to_vector(), (std::vector<double>{-9, -12, -17, -24}));
  EXPECT_EQ(mul(a, b).to_vector(), (std::vector<double>{10, -20, 60, -80}));
  EXPECT_EQ(relu(a).to_vector(), (std::vector<double>{1, 0, 3, 0}));
  EXPECT_EQ(abs(a).to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(square(a).to_vector(), (std::vector<double>{1, 4, 9, 16}));
  EXPECT_EQ((a * 2.0 + 1.0).to_vector(), (std::vector<double>{3, -3, 7, -7}));
}

TEST(Elementwise, IncompatibleShapesNameTheOp) {
  try {
    add(zeros({2, 3}), zeros({4}));
    FAIL() << "expected an error";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "add: shapes [2, 3] and [4] do not broadcast");
  }
  EXPECT_THROW(mul(zeros({2}), zeros({2}, DType::Float64)), InvalidArgument);
}

TEST(Elementwise, ReluRuleKernels) {
  const Tensor grad = from_vector({4}, {1, -1, 2, -2});
  const Tensor output = from_vector({4}, {0, 0, 3, 3});
  EXPECT_EQ(relu_backward_guided(grad, output).to_vector(), (std::vector<double>{0, 0, 2, 0}));
  EXPECT_EQ(relu_backward_deconvnet(grad).to_vector(), (std::vector<double>{1, 0, 2, 0}));
}

// LRP's kernels: the stabilizer takes sign(0) = +1, a closed gate gives 0, and -0 is not
// negative. Values worked by hand.
TEST(Elementwise, LrpRatioAndNegativeTest) {
  namespace cpu = kernels::cpu;
  const std::vector<double> relevance{1, 2, 3, 4}, z{0, -0.5, 2, 1}, gate{1, -1, 0, 2};
  std::vector<double> out(4);
  cpu::stabilized_ratio<double>(4, relevance.data(), z.data(), 0.5, nullptr, 0, out.data());
  EXPECT_EQ(out, (std::vector<double>{2, -2, 1.2, 4 / 1.5}));
  cpu::stabilized_ratio<double>(4, relevance.data(), z.data(), 0.5, gate.data(), +1, out.data());
  EXPECT_EQ(out, (std::vector<double>{2, 0, 0, 4 / 1.5}));
  cpu::stabilized_ratio<double>(4, relevance.data(), z.data(), 0.5, gate.data(), -1, out.data());
  EXPECT_EQ(out, (std::vector<double>{0, -2, 0, 0}));
  std::vector<float> values(100000, 1.0f);
  values[5] = -0.0f;
  EXPECT_FALSE(cpu::any_negative<float>(int64_t(values.size()), values.data()));
  EXPECT_FALSE(cpu::any_negative<float>(0, values.data()));
  values.back() = -1e-30f;
  EXPECT_TRUE(cpu::any_negative<float>(int64_t(values.size()), values.data()));
}

// LRP's rule for a sum: each addend's share of the relevance, with z = a + b stabilized as in
// stabilized_ratio. Values worked by hand; sign(0) = +1.
TEST(Elementwise, SumSharesSplitTheRelevanceByTheAddends) {
  namespace cpu = kernels::cpu;
  const std::vector<double> a{1, -3, 2, 0}, b{3, 1, -2, 0}, relevance{8, 4, 1, 5};
  std::vector<double> share_a(4), share_b(4);
  cpu::sum_shares<double>(4, a.data(), b.data(), relevance.data(), 0.5, share_a.data(),
                          share_b.data());
  // z = 4, -2, 0, 0: ratios 8 / 4.5, 4 / -2.5, 1 / 0.5, 5 / 0.5.
  EXPECT_EQ(share_a, (std::vector<double>{8 / 4.5, -3 * (4 / -2.5), 2 * 2.0, 0}));
  EXPECT_EQ(share_b, (std::vector<double>{3 * (8 / 4.5), 4 / -2.5, -2 * 2.0, 0}));
}

}  // namespace
}  // namespace saliency

namespace saliency {
namespace {

// Integrated Gradients' batched line: row k of scaled_copies is base + s_k direction in one
// rounding, and add_weighted_rows adds rows in order, one fused multiply-add each, so a batch
// added whole or in two parts gives the same bits.
TEST(Elementwise, ScaledCopiesAndWeightedRowsAreFusedMultiplyAddsInRowOrder) {
  const Tensor base = testing::random64({1, 2, 3, 5}, 3).to(DType::Float32);
  const Tensor direction = testing::random64({1, 2, 3, 5}, 4).to(DType::Float32);
  const std::vector<double> scales{0.1, -0.7, 1.3};
  const Tensor copies = scaled_copies(base, direction, scales);
  ASSERT_EQ(copies.shape(), Shape({3, 2, 3, 5}));
  const std::vector<double> b = base.to_vector(), d = direction.to_vector();
  const std::vector<double> c = copies.to_vector();
  for (size_t k = 0; k < scales.size(); ++k)
    for (size_t i = 0; i < b.size(); ++i)
      ASSERT_EQ(c[k * b.size() + i], std::fma(float(scales[k]), float(d[i]), float(b[i])));

  const Tensor start = testing::random64({1, 2, 3, 5}, 5).to(DType::Float32);
  const std::vector<double> weights{0.25, -1.5, 3.0};
  const std::vector<double> whole = add_weighted_rows(start, copies, weights).to_vector();
  const Tensor first_part = add_weighted_rows(start, copies.slice_batch(0, 1), {weights[0]});
  const std::vector<double> in_parts =
      add_weighted_rows(first_part, copies.slice_batch(1, 3), {weights[1], weights[2]}).to_vector();
  EXPECT_EQ(whole, in_parts);
  const std::vector<double> s = start.to_vector();
  for (size_t i = 0; i < s.size(); ++i) {
    float sum = float(s[i]);
    for (size_t k = 0; k < weights.size(); ++k)
      sum = std::fma(float(weights[k]), float(c[k * s.size() + i]), sum);
    ASSERT_EQ(whole[i], sum) << i;
  }
  EXPECT_THROW(scaled_copies(copies, direction, scales), InvalidArgument);
  EXPECT_THROW(add_weighted_rows(start, copies, {1.0}), InvalidArgument);
}

}  // namespace
}  // namespace saliency
