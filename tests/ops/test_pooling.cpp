#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/pooling.h"

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

// relu_max_pool2d is max_pool2d(relu(x)) in one pass each way (its bits against the two ops:
// Engine.RunsAReluAndTheMaxPoolingAfterItInOnePass). The input mostly negative (values in
// [-1.6, 0.4]), so that many windows pass nothing and their winners must get no gradient.
TEST(MaxPool, ReluThenPoolingGradientsMatchFiniteDifferences) {
  const Pool2dOptions stem{.kernel = 3, .stride = 2, .padding = 1};
  const Tensor x = random64({2, 3, 7, 6}, 3);
  const Tensor pooled = relu_max_pool2d(scale_shift(x, 1.0, -0.6), stem);
  int64_t zeros = 0;
  for (double value : pooled.to_vector()) zeros += value == 0.0;
  EXPECT_GT(zeros, 4);
  EXPECT_LT(zeros, pooled.numel() - 4);
  EXPECT_TRUE(gradcheck(
      [&](const auto& in) { return relu_max_pool2d(scale_shift(in[0], 1.0, -0.6), stem); }, {x}));
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

// Pool shapes for the kernel tests: ResNet's stem pooling, 2x2/2, 3x3/1 and an uneven 5x4/(3, 2),
// on maps whose rows are not multiples of the vector width.
std::vector<kernels::cpu::PoolGeometry> awkward_pools() {
  return {
      {.planes = 3,
       .in_h = 23,
       .in_w = 41,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride_h = 2,
       .stride_w = 2,
       .pad_h = 1,
       .pad_w = 1},
      {.planes = 2,
       .in_h = 12,
       .in_w = 38,
       .kernel_h = 2,
       .kernel_w = 2,
       .stride_h = 2,
       .stride_w = 2},
      {.planes = 2, .in_h = 9, .in_w = 35, .kernel_h = 3, .kernel_w = 3, .pad_h = 1, .pad_w = 1},
      {.planes = 1,
       .in_h = 17,
       .in_w = 50,
       .kernel_h = 5,
       .kernel_w = 4,
       .stride_h = 3,
       .stride_w = 2,
       .pad_h = 2,
       .pad_w = 1},
  };
}

// The float kernel computes the cells whose windows lie inside the input 16 (AVX-512) or 8
// (AVX2) at a time; the
// double kernel scans every cell one by one. On inputs full of ties, with NaN and -infinity
// sprinkled in, both must pick the same winners (first of equal values, last NaN).
TEST(MaxPool, VectorCellsPickTheSameWinnersAsTheScalarScan) {
  for (const kernels::cpu::PoolGeometry& g : awkward_pools()) {
    const int64_t in_size = g.planes * g.in_h * g.in_w, out_size = g.planes * g.out_h() * g.out_w();
    std::vector<float> x(in_size);
    for (int64_t i = 0; i < in_size; ++i) x[i] = float((i * 7919) % 5);  // many ties
    for (int64_t i = 3; i < in_size; i += 97) x[i] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t i = 11; i < in_size; i += 89) x[i] = -std::numeric_limits<float>::infinity();
    const std::vector<double> x64(x.begin(), x.end());
    std::vector<float> y(out_size);
    std::vector<double> y64(out_size);
    std::vector<int32_t> index(out_size, -1), index64(out_size, -2);
    kernels::cpu::max_pool2d_forward(g, x.data(), y.data(), index.data());
    kernels::cpu::max_pool2d_forward(g, x64.data(), y64.data(), index64.data());
    EXPECT_EQ(index, index64);
    for (int64_t i = 0; i < out_size; ++i)
      if (std::isnan(y64[i]))
        EXPECT_TRUE(std::isnan(y[i])) << i;
      else
        EXPECT_EQ(y[i], y64[i]) << i;
  }
}

// The pair ReLU -> max pooling in one pass each way (relu_max_pool2d's kernels) against the two
// kernels in turn, bit for bit: winners, values (NaN -> 0, -0 -> +0 as relu_forward) and the
// input gradient, with the ReLU's input or its output as the mask. Inputs full of ties, zeros,
// negatives and all-negative windows, on the vector cells (float) and the scalar scan (double).
template <typename T>
void expect_relu_then_pool_in_one_pass(const kernels::cpu::PoolGeometry& g) {
  const int64_t in_size = g.planes * g.in_h * g.in_w, out_size = g.planes * g.out_h() * g.out_w();
  std::vector<T> x(in_size), gradient(out_size);
  for (int64_t i = 0; i < in_size; ++i) x[i] = T((i * 7919) % 7) - T(4);  // 3 of 7 positive
  for (int64_t i = 3; i < in_size; i += 97) x[i] = std::numeric_limits<T>::quiet_NaN();
  for (int64_t i = 5; i < in_size; i += 83) x[i] = T(-0.0);
  for (int64_t i = 0; i < 6 * g.in_w; ++i) x[i] = -T(1 + i % 3);  // windows with nothing positive
  for (int64_t i = 0; i < out_size; ++i) gradient[i] = T((i * 31) % 11) - T(5);
  std::vector<T> relu_x(in_size), pooled(out_size), fused(out_size);
  std::vector<int32_t> winners(out_size, -1), fused_winners(out_size, -2);
  kernels::cpu::relu_forward(in_size, x.data(), relu_x.data());
  kernels::cpu::max_pool2d_forward(g, relu_x.data(), pooled.data(), winners.data());
  kernels::cpu::max_pool2d_forward_of_relu(g, x.data(), fused.data(), fused_winners.data());
  EXPECT_EQ(fused_winners, winners);
  EXPECT_EQ(0, std::memcmp(fused.data(), pooled.data(), sizeof(T) * out_size));
  int64_t zeros = 0;
  for (T value : fused) zeros += value == T(0);
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, out_size);

  std::vector<T> scattered(in_size), expected(in_size), through(in_size);
  kernels::cpu::max_pool2d_backward(g, gradient.data(), winners.data(), scattered.data());
  kernels::cpu::relu_backward(in_size, scattered.data(), relu_x.data(), expected.data());
  for (const std::vector<T>* mask : {&x, &relu_x}) {
    std::fill(through.begin(), through.end(), T(7));  // every element is written
    kernels::cpu::max_pool2d_backward_through_relu(g, gradient.data(), winners.data(), mask->data(),
                                                   through.data());
    EXPECT_EQ(0, std::memcmp(through.data(), expected.data(), sizeof(T) * in_size))
        << (mask == &x ? "the input" : "the output") << " as the mask";
  }
}

TEST(MaxPool, ReluThenPoolingInOnePassGivesTheTwoKernelsBits) {
  for (const kernels::cpu::PoolGeometry& g : awkward_pools()) {
    SCOPED_TRACE(::testing::Message() << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h
                                      << " stride " << g.stride_h);
    expect_relu_then_pool_in_one_pass<float>(g);
    expect_relu_then_pool_in_one_pass<double>(g);
  }
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
