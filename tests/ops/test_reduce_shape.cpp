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

TEST(Reduce, SumAndMeanGradients) {
  const Tensor x = random64({2, 3, 4}, 1);
  EXPECT_TRUE(gradcheck([](const auto& in) { return sum(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return mean(in[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return sum(in[0], {1}); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return mean(in[0], {0, 2}, true); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return sum(in[0], {-1}, true); }, {x}));
}

TEST(Reduce, Values) {
  const Tensor x = from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_DOUBLE_EQ(sum(x).item(), 21);
  EXPECT_DOUBLE_EQ(mean(x).item(), 3.5);
  EXPECT_EQ(sum(x, {0}).to_vector(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(mean(x, {1}).to_vector(), (std::vector<double>{2, 5}));
  EXPECT_EQ(sum(x).shape(), Shape{});
}

TEST(Softmax, GradientsAlongEitherDimension) {
  const Tensor x = random64({3, 4}, 2);
  for (int64_t dim : {0, 1}) {
    EXPECT_TRUE(gradcheck([&](const auto& in) { return softmax(in[0], dim); }, {x}));
    EXPECT_TRUE(gradcheck([&](const auto& in) { return log_softmax(in[0], dim); }, {x}));
  }
  EXPECT_TRUE(
      gradcheck([](const auto& in) { return softmax(in[0], 1); }, {random64({2, 3, 2}, 3)}));
}

TEST(Softmax, StableForLargeLogits) {
  const Tensor x = from_vector({1, 3}, {1000, 1000, 1000 + std::log(2.0)}, DType::Float64);
  const std::vector<double> p = softmax(x, 1).to_vector();
  EXPECT_NEAR(p[0], 0.25, 1e-12);
  EXPECT_NEAR(p[2], 0.5, 1e-12);
  EXPECT_NEAR(log_softmax(x, 1).at({0, 2}), std::log(0.5), 1e-12);
}

TEST(ShapeOps, ReshapeFlattenShareStorageAndHaveGradients) {
  const Tensor x = random64({2, 3, 2}, 4);
  const Tensor r = reshape(x, {3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_TRUE(r.shares_storage_with(x));
  EXPECT_EQ(flatten(x).shape(), (Shape{2, 6}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return square(reshape(in[0], {6, 2})); }, {x}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return mul(flatten(in[0]), flatten(in[0])); }, {x}));
  EXPECT_THROW(reshape(x, {5, -1}), InvalidArgument);
  EXPECT_THROW(reshape(x, {-1, -1}), InvalidArgument);
}

TEST(ShapeOps, ConcatBatch) {
  const Tensor a = from_vector({1, 2}, {1, 2}), b = from_vector({2, 2}, {3, 4, 5, 6});
  EXPECT_EQ(concat_batch({a, b}).to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(gradcheck(
      [](const auto& in) {
        return square(concat_batch({in[0], in[1], in[0]}));
      },
      {random64({1, 3}, 5), random64({2, 3}, 6)}));
  EXPECT_THROW(concat_batch({a, zeros({1, 3})}), InvalidArgument);
}

TEST(ShapeOps, SelectOneLogitPerImage) {
  const Tensor logits = from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(select(logits, 1, 2).to_vector(), (std::vector<double>{3, 6}));
  EXPECT_EQ(select(logits, 0, 1).to_vector(), (std::vector<double>{4, 5, 6}));
  EXPECT_TRUE(
      gradcheck([](const auto& in) { return select(in[0], 1, 1); }, {random64({2, 3, 2}, 7)}));
  EXPECT_THROW(select(logits, 1, 3), InvalidArgument);
  EXPECT_THROW(select(logits, 2, 0), InvalidArgument);
}

}  // namespace
}  // namespace saliency
