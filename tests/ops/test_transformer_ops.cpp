// The ops a Vision Transformer adds: GELU, layer norm, batched matmul, permute, concat.
// Gradients against finite differences (float64), values against closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(Gelu, ExactErfFormAndGradient) {
  const Tensor x = from_vector({3}, {-1.0, 0.0, 1.0}, DType::Float64);
  const std::vector<double> y = gelu(x).to_vector();
  EXPECT_NEAR(y[0], -0.15865525393145707, 1e-15);  // x * Phi(x)
  EXPECT_EQ(y[1], 0.0);
  EXPECT_NEAR(y[2], 0.8413447460685429, 1e-15);
  EXPECT_TRUE(gradcheck([](const auto& in) { return gelu(in[0]); },
                        {mul_scalar(random64({4, 5}, 1), 3.0)}));
}

TEST(LayerNorm, NormalizesTheLastDimension) {
  const Tensor x = random64({3, 4, 6}, 2);
  const Tensor y = layer_norm(x, {}, {}, 0.0);
  const std::vector<double> v = y.to_vector();
  for (int64_t row = 0; row < 12; ++row) {
    double mean = 0, square = 0;
    for (int64_t i = 0; i < 6; ++i) mean += v[size_t(row * 6 + i)] / 6;
    for (int64_t i = 0; i < 6; ++i)
      square += (v[size_t(row * 6 + i)] - mean) * (v[size_t(row * 6 + i)] - mean) / 6;
    EXPECT_NEAR(mean, 0.0, 1e-12);
    EXPECT_NEAR(square, 1.0, 1e-12);
  }
  EXPECT_THROW(layer_norm(x, random64({5}, 3), {}), InvalidArgument);
}

TEST(LayerNorm, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const auto& in) { return layer_norm(in[0], in[1], in[2], 1e-5); },
                        {random64({2, 3, 5}, 4), random64({5}, 5), random64({5}, 6)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return layer_norm(in[0], {}, {}, 1e-3); },
                        {random64({4, 7}, 7)}));
}

TEST(MatMul, BatchedProductAndGradients) {
  const Tensor a = from_vector({1, 2, 3}, {1, 2, 3, 4, 5, 6}, DType::Float64);
  const Tensor b = from_vector({1, 3, 1}, {1, 0, -1}, DType::Float64);
  EXPECT_EQ(matmul(a, b).to_vector(), (std::vector<double>{-2, -2}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
                        {random64({2, 3, 4, 5}, 8), random64({2, 3, 5, 2}, 9)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return matmul(in[0], in[1]); },
                        {random64({4, 5}, 10), random64({5, 3}, 11)}));
  EXPECT_THROW(matmul(random64({2, 3, 4}, 1), random64({3, 4, 2}, 2)), InvalidArgument);
}

TEST(Permute, ReordersAndInvertsInBackward) {
  const Tensor x = arange(0, 24, 1, DType::Float64).view({2, 3, 4});
  const Tensor y = permute(x, {2, 0, 1});  // [4, 2, 3]
  ASSERT_EQ(y.shape(), Shape({4, 2, 3}));
  EXPECT_EQ(y.at({1, 1, 2}), x.at({1, 2, 1}));
  EXPECT_EQ(y.at({3, 0, 1}), x.at({0, 1, 3}));
  EXPECT_TRUE(gradcheck(
      [](const auto& in) {
        return permute(in[0], {0, 2, 3, 1});
      },
      {random64({2, 3, 4, 5}, 12)}));
  EXPECT_THROW(permute(x, {0, 0, 1}), InvalidArgument);
}

TEST(Narrow, KeepsARangeAndScattersItsGradient) {
  const Tensor x = arange(0, 24, 1, DType::Float64).view({2, 3, 4});
  const Tensor y = narrow(x, 1, 1, 2);
  ASSERT_EQ(y.shape(), Shape({2, 2, 4}));
  EXPECT_EQ(y.at({1, 0, 3}), x.at({1, 1, 3}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return narrow(in[0], 1, 1, 2); },
                        {random64({2, 3, 4}, 18)}));
  EXPECT_THROW(narrow(x, 2, 3, 2), InvalidArgument);
}

TEST(Concat, JoinsAlongAnyDimension) {
  const Tensor a = full({2, 1, 3}, 1.0, DType::Float64), b = full({2, 2, 3}, 2.0, DType::Float64);
  const Tensor c = concat({a, b}, 1);
  ASSERT_EQ(c.shape(), Shape({2, 3, 3}));
  EXPECT_EQ(c.at({1, 0, 2}), 1.0);
  EXPECT_EQ(c.at({1, 2, 0}), 2.0);
  EXPECT_TRUE(gradcheck(
      [](const auto& in) {
        return concat({in[0], in[1], in[2]}, 1);
      },
      {random64({2, 1, 3}, 13), random64({2, 4, 3}, 14), random64({2, 2, 3}, 15)}));
  EXPECT_TRUE(gradcheck(
      [](const auto& in) {
        return concat({in[0], in[1]}, -1);
      },
      {random64({3, 2}, 16), random64({3, 5}, 17)}));
  EXPECT_THROW(concat({a, random64({3, 2, 3}, 1)}, 1), InvalidArgument);
}

}  // namespace
}  // namespace saliency
