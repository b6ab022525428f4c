#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(CrossEntropy, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], {2, 0, 4});
      },
      {mul_scalar(random64({3, 5}, 1), 4.0)}));
  EXPECT_TRUE(gradcheck(
      [](const std::vector<Tensor>& in) {
        return cross_entropy(in[0], {1, 1}, 0.2);
      },
      {random64({2, 3}, 2)}));
}

TEST(CrossEntropy, MatchesTheLogSumExpFormula) {
  // -log softmax([1, 2, 3])[2] = log(e + e^2 + e^3) - 3; the mean over rows.
  const double expected_row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double expected_row1 = std::log(2.0);  // two equal logits
  const Tensor logits = from_vector({2, 3}, {1, 2, 3, 0, 0, -1e9});
  EXPECT_NEAR(cross_entropy(logits, {2, 1}).item(), (expected_row0 + expected_row1) / 2, 1e-6);
}

TEST(CrossEntropy, LabelSmoothingMixesInTheUniformTarget) {
  // PyTorch: (1 - s) * nll + s * mean_k(-log p_k).
  const Tensor logits = from_vector({1, 3}, {1, 2, 3});
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const double nll = lse - 3.0, uniform = lse - 2.0;  // mean of -log p = lse - mean(logits)
  EXPECT_NEAR(cross_entropy(logits, {2}, 0.1).item(), 0.9 * nll + 0.1 * uniform, 1e-6);
}

TEST(CrossEntropy, BackwardIsSoftmaxMinusOneHotOverN) {
  Tensor logits = from_vector({2, 2}, {0, 0, 3, 1}).set_requires_grad(true);
  autograd::backward(cross_entropy(logits, {0, 1}));
  const double p = 1 / (1 + std::exp(-2.0));  // softmax([3, 1])[0]
  const std::vector<double> expected{(0.5 - 1) / 2, 0.5 / 2, p / 2, (1 - p - 1) / 2};
  const std::vector<double> actual = logits.grad().to_vector();
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual[i], expected[i], 1e-7);
}

TEST(CrossEntropy, RejectsBadTargets) {
  EXPECT_THROW(cross_entropy(zeros({2, 3}), {0}), InvalidArgument);
  EXPECT_THROW(cross_entropy(zeros({2, 3}), {0, 3}), InvalidArgument);
  EXPECT_THROW(cross_entropy(zeros({2, 3}), {0, -1}), InvalidArgument);
  EXPECT_THROW(cross_entropy(zeros({6}), {0}), InvalidArgument);
  EXPECT_THROW(cross_entropy(zeros({1, 3}), {0}, 1.5), InvalidArgument);
}

}  // namespace
}  // namespace saliency
