// SmoothGrad's noise: the Philox4x32-10 generator against the published known answers, and the
// normal stream's properties the methods rely on (any window of the stream is the same draws,
// on any thread count; the draws are standard normal). tests/test_cuda_kernels.cpp checks the
// GPU's stream against this one.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/ops/random.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/random.h"
#include "kernels/philox.h"

namespace saliency {
namespace {

namespace philox = kernels::philox;

// Random123's known-answer vectors (its tests/kat_vectors) for Philox4x32-10.
TEST(Philox, MatchesTheReferenceImplementationsKnownAnswers) {
  struct Case {
    philox::Block counter;
    uint32_t key0, key1;
    philox::Block expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Case& c : cases) {
    const philox::Block got = philox::philox4x32_10(c.counter, c.key0, c.key1);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(got.word[w], c.expected.word[w]) << "word " << w;
  }
}

std::vector<double> draws(uint64_t seed, uint64_t first, int64_t count, double stddev = 1.0) {
  std::vector<double> out(static_cast<size_t>(count));
  kernels::cpu::fill_normal(seed, first, count, stddev, out.data());
  return out;
}

// Any window of the stream holds the same draws as the whole (windows starting and ending
// inside a Philox block included), so SmoothGrad's sample k is the same in any batch.
TEST(NormalNoise, AWindowOfTheStreamIsTheSameDrawsAsTheWhole) {
  const std::vector<double> whole = draws(7, 0, 50003);
  for (const auto& [first, count] :
       {std::pair<int64_t, int64_t>{0, 1}, {1, 2}, {3, 6}, {5, 1001}, {40000, 10003}, {4, 4}}) {
    const std::vector<double> window = draws(7, uint64_t(first), count);
    EXPECT_EQ(window, std::vector<double>(whole.begin() + first, whole.begin() + first + count))
        << "window at " << first << " of " << count;
  }
  EXPECT_NE(draws(8, 0, 16), std::vector<double>(whole.begin(), whole.begin() + 16));
}

TEST(NormalNoise, IsTheSameOnAnyThreadCountAndFloatIsTheDoubleRounded) {
  const int previous = kernels::cpu::num_threads();
  kernels::cpu::set_num_threads(1);
  const std::vector<double> one = draws(3, 11, 100001, 0.25);
  kernels::cpu::set_num_threads(2);
  const std::vector<double> two = draws(3, 11, 100001, 0.25);
  kernels::cpu::set_num_threads(previous);
  EXPECT_EQ(one, two);
  std::vector<float> single(one.size());
  kernels::cpu::fill_normal(3, 11, int64_t(single.size()), 0.25, single.data());
  for (size_t i = 0; i < one.size(); ++i) ASSERT_EQ(single[i], static_cast<float>(one[i])) << i;
}

// The fill (eight blocks at a time in AVX-512 builds with glibc's vector log, sin and cos)
// against philox.h's one-block draws through libm, block by block and lane by lane: the doubles
// agree within a few ulp (libmvec's bound is 4), and rounded to float they agree except in rare
// ties (none in 20 million draws of this stream when measured), never by more than one float
// ulp. Catches a block or a draw out of place, which the statistics below would not.
TEST(NormalNoise, TheFillIsPhiloxsOneBlockDrawsToRounding) {
  const uint64_t seed = 5, first = 13;
  const int64_t n = int64_t(1) << 20;
  const std::vector<double> filled = draws(seed, first, n);
  std::vector<float> single(static_cast<size_t>(n));
  kernels::cpu::fill_normal(seed, first, n, 1.0, single.data());
  int64_t float_differences = 0;
  for (int64_t i = 0; i < n; ++i) {
    double quad[4];
    const uint64_t element = first + uint64_t(i);
    philox::standard_normal_quad(seed, element / 4, quad);
    const double reference = quad[element % 4];
    ASSERT_NEAR(filled[size_t(i)], reference, 1e-15 * (1 + std::abs(reference))) << "draw " << i;
    const float rounded = static_cast<float>(reference);
    if (single[size_t(i)] != rounded) {
      ++float_differences;
      ASSERT_EQ(std::abs(std::nextafter(rounded, single[size_t(i)]) - single[size_t(i)]), 0.0f)
          << "draw " << i << " is more than one float ulp from libm's";
    }
  }
  EXPECT_LE(float_differences, n / 100000) << "float draws differing from libm's rounding";
}

// Mean, variance, tails and the correlation of neighbours (the two halves of a Box-Muller
// pair) over a million draws: each within about five standard errors of a standard normal's.
TEST(NormalNoise, DrawsAreStandardNormal) {
  const int64_t n = 1000000;
  const std::vector<double> x = draws(0, 0, n);
  double sum = 0, squares = 0, neighbours = 0;
  int64_t beyond_two = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += x[i];
    squares += x[i] * x[i];
    if (i + 1 < n) neighbours += x[i] * x[i + 1];
    beyond_two += std::abs(x[i]) > 2.0;
  }
  EXPECT_NEAR(sum / n, 0.0, 5.0 / std::sqrt(double(n)));
  EXPECT_NEAR(squares / n, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(neighbours / (n - 1), 0.0, 5.0 / std::sqrt(double(n)));
  const double tail = 0.0455002638963584;  // P(|Z| > 2)
  EXPECT_NEAR(double(beyond_two) / n, tail, 5.0 * std::sqrt(tail * (1 - tail) / n));
}

TEST(NormalNoise, TheOpScalesTheStreamAndKeepsTheShape) {
  const Tensor noise = normal_noise({2, 3, 5, 7}, 9, 13, 0.5, DType::Float64);
  EXPECT_EQ(noise.shape(), Shape({2, 3, 5, 7}));
  const std::vector<double> expected = draws(9, 13, noise.numel(), 0.5);
  EXPECT_EQ(noise.to_vector(), expected);
}

}  // namespace
}  // namespace saliency
