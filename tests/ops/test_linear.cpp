#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

TEST(Linear, GradientsMatchFiniteDifferences) {
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                        {random64({3, 5}, 1), random64({4, 5}, 2), random64({4}, 3)}));
  EXPECT_TRUE(gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1]); },
                        {random64({1, 7}, 4), random64({2, 7}, 5)}));
}

TEST(Linear, ComputesRowTimesWeightTransposedPlusBias) {
  const Tensor x = from_vector({1, 2}, {1, 2});
  const Tensor w = from_vector({3, 2}, {1, 0, 0, 1, 1, 1});
  const Tensor y = linear(x, w, from_vector({3}, {0.5, 0, -1}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{1.5, 2, 2}));
}

TEST(Linear, RejectsMismatchedShapes) {
  EXPECT_THROW(linear(zeros({2, 3}), zeros({4, 5})), InvalidArgument);
  EXPECT_THROW(linear(zeros({2, 3}), zeros({4, 3}), zeros({3})), InvalidArgument);
}

}  // namespace
}  // namespace saliency
