#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(MaxPool, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck(
      [](const auto& in) { return max_pool2d(in[0], {.kernel = 3, .stride = 2, .padding = 1}); },
      {random64({2, 3, 7, 6}, 1)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return max_pool2d(in[0], {.kernel = 2}); },
                        {random64({1, 2, 4, 6}, 2)}));
}

// Ties go to the first element of the window in row-major order (PyTorch's convention).
TEST(MaxPool, TiesGoToTheFirstIndex) {
  Tensor x = full({1, 1, 2, 4}, 5.0).set_requires_grad(true);
  const Tensor y = max_pool2d(x, {.kernel = 2});
  EXPECT_EQ(y.to_vector(), (std::vector<double>{5, 5}));
  autograd::backward(y, from_vector({1, 1, 1, 2}, {1, 2}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 0, 2, 0, 0, 0, 0, 0}));
}

TEST(MaxPool, PaddingNeverWins) {
  const Tensor x = full({1, 1, 2, 2}, -3.0);
  const Tensor y = max_pool2d(x, {.kernel = 3, .stride = 1, .padding = 1});
  EXPECT_EQ(y.to_vector(), (std::vector<double>{-3, -3, -3, -3}));
}

TEST(AvgPool, GradientsMatchFiniteDifferences) {
  for (bool include_pad : {true, false}) {
    const Pool2dOptions options{
        .kernel = 3, .stride = 2, .padding = 1, .count_include_pad = include_pad};
    EXPECT_TRUE(gradcheck([&](const auto& in) { return avg_pool2d(in[0], options); },
                          {random64({1, 2, 7, 5}, 3)}));
  }
}

TEST(AvgPool, PaddingDivisorFollowsCountIncludePad) {
  const Tensor x = ones({1, 1, 2, 2});
  // Corner window of a 3x3 kernel with padding 1 covers 4 real elements of 9.
  EXPECT_NEAR(avg_pool2d(x, {.kernel = 3, .stride = 1, .padding = 1}).at({0, 0, 0, 0}), 4.0 / 9,
              1e-7);
  EXPECT_DOUBLE_EQ(
      avg_pool2d(x, {.kernel = 3, .stride = 1, .padding = 1, .count_include_pad = false})
          .at({0, 0, 0, 0}),
      1.0);
}

TEST(AdaptiveAvgPool, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck(
      [](const auto& in) {
        return adaptive_avg_pool2d(in[0], {3, 2});
      },
      {random64({2, 2, 7, 5}, 4)}));
  EXPECT_TRUE(gradcheck([](const auto& in) { return adaptive_avg_pool2d(in[0], 1); },
                        {random64({1, 3, 4, 4}, 5)}));
}

TEST(AdaptiveAvgPool, OverlappingWindows) {
  // 5 -> 3: windows [0,2), [1,4), [3,5) as PyTorch.
  const Tensor x = from_vector({1, 1, 1, 5}, {1, 2, 3, 4, 5});
  EXPECT_EQ(adaptive_avg_pool2d(x, {1, 3}).to_vector(), (std::vector<double>{1.5, 3, 4.5}));
}

TEST(Pooling, RejectsBadGeometry) {
  EXPECT_THROW(max_pool2d(zeros({1, 1, 2, 2}), {.kernel = 3}), InvalidArgument);
  EXPECT_THROW(max_pool2d(zeros({1, 1, 4, 4}), {.kernel = 2, .padding = 2}), InvalidArgument);
  EXPECT_THROW(avg_pool2d(zeros({1, 4, 4}), {.kernel = 2}), InvalidArgument);
}

}  // namespace
}  // namespace saliency
