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

Tensor positive64(const Shape& shape, uint64_t seed) {
  return add_scalar(mul_scalar(abs(random64(shape, seed)), 0.5), 0.5);
}

TEST(BatchNorm, InferenceGradientsMatchFiniteDifferences) {
  const Tensor mean = random64({3}, 4), var = positive64({3}, 5);
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& in) { return batch_norm2d(in[0], in[1], in[2], mean, var); },
      {random64({2, 3, 4, 5}, 1), random64({3}, 2), random64({3}, 3)}));
}

TEST(BatchNorm, TrainingGradientsMatchFiniteDifferences) {
  const Tensor mean = zeros({3}, DType::Float64), var = ones({3}, DType::Float64);
  const BatchNormOptions training{.training = true};
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& in) {
        return batch_norm2d(in[0], in[1], in[2], mean, var, training);
      },
      {random64({2, 3, 3, 4}, 1), random64({3}, 2), random64({3}, 3)}));
}

TEST(BatchNorm, WithoutAffineParameters) {
  const Tensor mean = random64({2}, 4), var = positive64({2}, 5);
  EXPECT_TRUE(gradcheck(
      [&](const std::vector<Tensor>& in) { return batch_norm2d(in[0], {}, {}, mean, var); },
      {random64({1, 2, 3, 3}, 1)}));
}

TEST(BatchNorm, InferenceMatchesFormula) {
  const Tensor x = from_vector({1, 2, 1, 2}, {1, 2, 3, 5});
  const Tensor y = batch_norm2d(x, from_vector({2}, {2, 1}), from_vector({2}, {0, 1}),
                                from_vector({2}, {1, 4}), from_vector({2}, {4, 1}), {.eps = 0.0});
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 1, 0, 2}));
}

TEST(BatchNorm, TrainingNormalizesWithBatchStatisticsAndUpdatesRunningOnes) {
  // Channel 0 holds 1, 3 (mean 2, biased var 1, unbiased var 2).
  const Tensor x = from_vector({2, 1, 1, 1}, {1, 3}, DType::Float64);
  Tensor running_mean = zeros({1}, DType::Float64), running_var = ones({1}, DType::Float64);
  const Tensor y = batch_norm2d(x, {}, {}, running_mean, running_var,
                                {.training = true, .momentum = 0.1, .eps = 0.0});
  EXPECT_DOUBLE_EQ(y.at({0, 0, 0, 0}), -1.0);
  EXPECT_DOUBLE_EQ(y.at({1, 0, 0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(running_mean.item(), 0.2);
  EXPECT_DOUBLE_EQ(running_var.item(), 0.9 + 0.1 * 2.0);
}

TEST(BatchNorm, RejectsWrongChannelCount) {
  EXPECT_THROW(batch_norm2d(zeros({1, 3, 2, 2}), {}, {}, zeros({2}), ones({2})), InvalidArgument);
}

}  // namespace
}  // namespace saliency
