// The float GEMM (packed AVX-512 or AVX2 kernel where built, else Eigen) against a float64
// reference with the summation error bound, and against Eigen, on shapes that cover every tile
// edge of both kernels' tiles (8 x 48 and 6 x 16).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/parallel.h"

namespace saliency {
namespace {

using kernels::cpu::GemmArgs;

struct Case {
  bool transpose_a, transpose_b;
  int64_t m, n, k;
  float alpha, beta;
};

std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = uniform(generator);
  return values;
}

// Operands stored with row strides 3 larger than needed, so that strides are exercised.
struct Operands {
  GemmArgs args;
  std::vector<float> a, b, c;
};

Operands make_operands(const Case& t, uint32_t seed) {
  Operands o;
  o.args = {
      .transpose_a = t.transpose_a, .transpose_b = t.transpose_b, .m = t.m, .n = t.n, .k = t.k};
  const int64_t a_rows = t.transpose_a ? t.k : t.m, a_columns = t.transpose_a ? t.m : t.k;
  const int64_t b_rows = t.transpose_b ? t.n : t.k, b_columns = t.transpose_b ? t.k : t.n;
  o.args.lda = a_columns + 3;
  o.args.ldb = b_columns + 3;
  o.args.ldc = t.n + 3;
  o.a = random_floats(a_rows * o.args.lda, seed);
  o.b = random_floats(b_rows * o.args.ldb, seed + 1);
  o.c = random_floats(t.m * o.args.ldc, seed + 2);
  if (t.beta == 0.0f)  // C must not be read: NaN would show through
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j)
        o.c[i * o.args.ldc + j] = std::numeric_limits<float>::quiet_NaN();
  return o;
}

float element(const std::vector<float>& x, int64_t ld, bool transposed, int64_t r, int64_t c) {
  return transposed ? x[c * ld + r] : x[r * ld + c];
}

// C from `gemm` against the float64 product; the bound is the float summation error
// (k + 2) * eps * (|alpha| sum |a b| + |beta c|) with room for the final rounding.
void expect_matches_reference(const Case& t, const Operands& before, const std::vector<float>& c) {
  const GemmArgs& g = before.args;
  const double eps = std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      double exact = 0, magnitude = 0;
      for (int64_t p = 0; p < t.k; ++p) {
        const double product = double(element(before.a, g.lda, t.transpose_a, i, p)) *
                               element(before.b, g.ldb, t.transpose_b, p, j);
        exact += product;
        magnitude += std::abs(product);
      }
      exact *= t.alpha;
      magnitude *= std::abs(t.alpha);
      if (t.beta != 0.0f) {
        const double old = before.c[i * g.ldc + j];
        exact += double(t.beta) * old;
        magnitude += std::abs(double(t.beta) * old);
      }
      const double bound = double(t.k + 2) * eps * magnitude + 1e-30;
      ASSERT_NEAR(c[i * g.ldc + j], exact, bound)
          << "C(" << i << ", " << j << ") of " << t.m << "x" << t.n << "x" << t.k;
    }
  // The padding between rows of C is left alone.
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = t.n; j < g.ldc; ++j)
      ASSERT_EQ(c[i * g.ldc + j], before.c[i * g.ldc + j]) << "padding of row " << i;
}

std::vector<Case> edge_cases() {
  std::vector<Case> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      // m: one tile, a partial tile, several; n: partial vectors, exactly one panel, one
      // column past it, more than one column block; k: one step, past one k slice.
      cases.push_back({ta, tb, 8, 48, 5, 1.0f, 0.0f});
      cases.push_back({ta, tb, 13, 49, 7, 1.0f, 0.0f});
      cases.push_back({ta, tb, 21, 1, 300, 0.5f, 0.0f});
      cases.push_back({ta, tb, 64, 17, 600, 1.0f, 1.0f});
      cases.push_back({ta, tb, 9, 400, 1, -2.0f, 0.25f});
      cases.push_back({ta, tb, 40, 33, 257, 1.0f, 1.0f});
      // Tail columns past the last full panel (2 and 4), an odd last k slice.
      cases.push_back({ta, tb, 16, 50, 301, 1.0f, 0.5f});
      cases.push_back({ta, tb, 11, 100, 17, -1.0f, 0.0f});
      // AVX2's 6 x 16 tile: exactly one, a partial tile of 4 rows past two, one vector of 8
      // columns and a tail of 3 past a panel, a last panel of one vector.
      cases.push_back({ta, tb, 6, 16, 9, 1.0f, 0.0f});
      cases.push_back({ta, tb, 16, 19, 260, 1.0f, 0.5f});
      cases.push_back({ta, tb, 7, 40, 33, 2.0f, 0.0f});
    }
  return cases;
}

TEST(Gemm, FloatMatchesTheFloat64ProductOnEveryTileEdge) {
  uint32_t seed = 10;
  for (const Case& t : edge_cases()) {
    Operands o = make_operands(t, seed += 3);
    std::vector<float> c = o.c;
    kernels::cpu::gemm(o.args, t.alpha, o.a.data(), o.b.data(), t.beta, c.data());
    expect_matches_reference(t, o, c);
    std::vector<float> parallel_c = o.c;
    kernels::cpu::parallel_gemm(o.args, t.alpha, o.a.data(), o.b.data(), t.beta, parallel_c.data());
    expect_matches_reference(t, o, parallel_c);
  }
}

// A plain B is read in place unless its row stride is a multiple of 256 floats, when it is
// packed: the two give the same bits (the same products summed in the same order), and the
// packed one meets the float64 bound too.
TEST(Gemm, PlainBReadInPlaceOrPackedGivesTheSameBits) {
  uint32_t seed = 90;
  for (const Case& t : edge_cases()) {
    if (t.transpose_b) continue;
    Operands in_place = make_operands(t, seed += 3);
    Operands packed = in_place;
    packed.args.ldb = 512;  // a multiple of 256, at least n + 3
    packed.b.assign(t.k * packed.args.ldb, 0.0f);
    for (int64_t r = 0; r < t.k; ++r)
      for (int64_t j = 0; j < t.n; ++j)
        packed.b[r * packed.args.ldb + j] = in_place.b[r * in_place.args.ldb + j];
    std::vector<float> c_in_place = in_place.c, c_packed = packed.c;
    kernels::cpu::parallel_gemm(in_place.args, t.alpha, in_place.a.data(), in_place.b.data(),
                                t.beta, c_in_place.data());
    kernels::cpu::parallel_gemm(packed.args, t.alpha, packed.a.data(), packed.b.data(), t.beta,
                                c_packed.data());
    expect_matches_reference(t, packed, c_packed);
    for (size_t i = 0; i < c_packed.size(); ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(c_in_place[i]), std::bit_cast<uint32_t>(c_packed[i]))
          << "m " << t.m << " n " << t.n << " k " << t.k << ", element " << i;
  }
}

// A transposed A is read in place when the product has a single panel of columns (at most 48,
// 16 with AVX2, plus up to 4 tail columns) and packed when it has more. Each column's sum does not
// depend on the others, so the single-panel product's columns must equal, bit for bit, the same
// columns inside a wider product: B2 holds B's panel columns twice (two panels, A packed) and then
// B's tail columns, which stay tail columns there.
TEST(Gemm, TransposedAReadInPlaceOrPackedGivesTheSameBits) {
  // Eigen (SALIENCY_GEMM=eigen, builds with neither kernel) treats a tail column differently.
  if (!kernels::cpu::packed_gemm_applies({.transpose_a = true, .m = 8, .n = 49, .k = 1}))
    GTEST_SKIP() << "the packed GEMM is not in use";
  const int64_t kPanel = kernels::cpu::packed_gemm_tile().panel_columns;
  uint32_t seed = 140;
  int compared = 0;
  for (const Case& t : edge_cases()) {
    if (!t.transpose_a || t.transpose_b || t.n > kPanel + 4) continue;
    const Operands single = make_operands(t, seed += 3);
    // Fewer rows than a tile (AVX2's 6- and 7-row cases with AVX-512's 8-row tile) go to Eigen,
    // whose sums depend on the product's width.
    if (!kernels::cpu::packed_gemm_applies(single.args)) continue;
    const int64_t panel_columns = std::min(t.n, kPanel), tail = t.n - panel_columns;
    Operands wide = single;
    wide.args.n = 2 * kPanel + tail;
    wide.args.ldb = wide.args.n + 3;
    wide.args.ldc = wide.args.n + 3;
    wide.b.assign(t.k * wide.args.ldb, 0.0f);
    wide.c.assign(t.m * wide.args.ldc, 0.0f);
    // Where each of single's columns sits in wide.
    auto wide_column = [&](int64_t j) { return j < panel_columns ? j : 2 * kPanel + j - kPanel; };
    // (a 19-column case is one panel and a tail of 3 with AVX2's 16-column panels)
    for (int64_t r = 0; r < t.k; ++r)
      for (int64_t j = 0; j < t.n; ++j) {
        const float value = single.b[r * single.args.ldb + j];
        wide.b[r * wide.args.ldb + wide_column(j)] = value;
        if (j < panel_columns) wide.b[r * wide.args.ldb + kPanel + j] = value;
      }
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j)
        wide.c[i * wide.args.ldc + wide_column(j)] = single.c[i * single.args.ldc + j];
    std::vector<float> c_single = single.c, c_wide = wide.c;
    kernels::cpu::parallel_gemm(single.args, t.alpha, single.a.data(), single.b.data(), t.beta,
                                c_single.data());
    kernels::cpu::parallel_gemm(wide.args, t.alpha, wide.a.data(), wide.b.data(), t.beta,
                                c_wide.data());
    expect_matches_reference(t, single, c_single);
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < t.n; ++j)
        ASSERT_EQ(std::bit_cast<uint32_t>(c_single[i * single.args.ldc + j]),
                  std::bit_cast<uint32_t>(c_wide[i * wide.args.ldc + wide_column(j)]))
            << "m " << t.m << " n " << t.n << " k " << t.k << ", C(" << i << ", " << j << ")";
    ++compared;
  }
  // one tile, partial tiles, tails, several k slices, beta != 0 (AVX2's narrower panel leaves
  // fewer single-panel cases)
  EXPECT_GE(compared, kPanel == 48 ? 7 : 4);
}

TEST(Gemm, PackedKernelServesFloatProductsOfATileOfRowsOrMore) {
  const int rows = kernels::cpu::packed_gemm_tile().rows;
#if defined(__AVX512F__)
  EXPECT_EQ(rows, 8);
#elif defined(__AVX2__) && defined(__FMA__)
  EXPECT_EQ(rows, 6);
#else
  EXPECT_EQ(rows, 0);
#endif
  if (rows == 0) return;
  if (std::getenv("SALIENCY_GEMM") == nullptr) {  // SALIENCY_GEMM=eigen switches it off
    EXPECT_TRUE(kernels::cpu::packed_gemm_applies({.m = rows, .n = 1, .k = 1}));
  }
  EXPECT_FALSE(kernels::cpu::packed_gemm_applies({.m = rows - 1, .n = 100, .k = 100}));
  EXPECT_FALSE(kernels::cpu::packed_gemm_applies({.m = 100, .n = 100, .k = 0}));
}

// Blocks of C are shared out over the threads, but each element's k order is fixed: one
// thread, two threads and the single-threaded entry point agree bit for bit (the second case
// has a tail column, summed as dot products).
TEST(Gemm, ResultsDoNotDependOnTheThreadCount) {
  for (const Case& t : {Case{false, true, 200, 500, 300, 1.0f, 0.0f},
                        Case{true, false, 200, 49, 600, 1.0f, 0.0f}}) {
    const Operands o = make_operands(t, 99);
    auto run = [&](int threads, bool parallel) {
      std::vector<float> c = o.c;
      const int saved = kernels::cpu::num_threads();
      kernels::cpu::set_num_threads(threads);
      if (parallel)
        kernels::cpu::parallel_gemm(o.args, 1.0f, o.a.data(), o.b.data(), 0.0f, c.data());
      else
        kernels::cpu::gemm(o.args, 1.0f, o.a.data(), o.b.data(), 0.0f, c.data());
      kernels::cpu::set_num_threads(saved);
      return c;
    };
    const std::vector<float> serial = run(1, false);
    EXPECT_EQ(run(1, true), serial) << "n = " << t.n;
    EXPECT_EQ(run(2, true), serial) << "n = " << t.n;
    EXPECT_EQ(run(3, true), serial) << "n = " << t.n;
  }
}

// A single image's product sums the columns past its last full panel (48 columns, 16 with AVX2),
// when there are at most 4 of them (a 7 x 7 map's 49th), as dot products in another k order than
// the panels' (a batch of such images straddles panels instead). Other columns must match
// `expected` bit for bit; these within the float summation bound of C(r, j) = sum_k op(A)(r, k)
// B(k, j) with B image i's (b + i * b_stride, row stride ldb).
void expect_same_bits_but_tails(const Operands& o, const Case& t, const std::vector<float>& b,
                                int64_t b_stride, int64_t c_stride, int64_t batch,
                                const std::vector<float>& actual,
                                const std::vector<float>& expected) {
  const int64_t panel = kernels::cpu::packed_gemm_tile().panel_columns;
  const int64_t past_panels = panel == 0 ? 0 : t.n % panel;
  const bool has_tail = panel > 0 && t.n > panel && past_panels <= 4;
  const double eps = std::numeric_limits<float>::epsilon();
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t r = 0; r < t.m; ++r)
      for (int64_t j = 0; j < t.n; ++j) {
        const int64_t at = i * c_stride + r * o.args.ldc + j;
        if (std::bit_cast<uint32_t>(actual[at]) == std::bit_cast<uint32_t>(expected[at])) continue;
        ASSERT_TRUE(has_tail && j >= t.n - past_panels)
            << "image " << i << ", C(" << r << ", " << j << "): " << actual[at] << " vs "
            << expected[at] << " outside the tail columns";
        double magnitude = 0;
        for (int64_t p = 0; p < t.k; ++p)
          magnitude += std::abs(double(element(o.a, o.args.lda, t.transpose_a, r, p)) *
                                b[i * b_stride + p * o.args.ldb + j]);
        ASSERT_NEAR(actual[at], expected[at], 2 * (t.k + 2) * eps * magnitude)
            << "image " << i << ", tail C(" << r << ", " << j << ")";
      }
}

// A batched product (one A, one B and C per image; how pointwise convolutions run over a
// batch) packs several small images into one block of columns: every image's C equals its own
// single-threaded product bit for bit (but for a single image's tail columns, within the float
// bound), and the gaps between the images' C are left alone. Eight 49-column images fill one
// block past 384 columns (392, the most a block takes), ten are two blocks of five.
TEST(Gemm, BatchedProductEqualsOneProductPerImage) {
  for (bool transpose_a : {false, true})
    for (int64_t n : {17, 49, 200, 400})
      for (int64_t batch : {8, 10}) {
        const Case t{transpose_a, false, 24, n, 70, 1.0f, 0.0f};
        const Operands o = make_operands(t, 40 + static_cast<uint32_t>(n));
        const int64_t b_stride = t.k * o.args.ldb, c_stride = t.m * o.args.ldc + 5;
        const std::vector<float> b = random_floats(batch * b_stride, 5);
        const std::vector<float> c_before = random_floats(batch * c_stride, 6);
        std::vector<float> batched = c_before, expected = c_before;
        kernels::cpu::parallel_gemm_batched(o.args, {batch, b_stride, c_stride}, 1.0f, o.a.data(),
                                            b.data(), 0.0f, batched.data());
        for (int64_t i = 0; i < batch; ++i)
          kernels::cpu::gemm(o.args, 1.0f, o.a.data(), b.data() + i * b_stride, 0.0f,
                             expected.data() + i * c_stride);
        SCOPED_TRACE(testing::Message()
                     << "n = " << n << ", batch = " << batch << ", transpose_a = " << transpose_a);
        expect_same_bits_but_tails(o, t, b, b_stride, c_stride, batch, batched, expected);
        for (int64_t at = 0; at < batch * c_stride; ++at) {  // row padding and gaps left alone
          const int64_t within = at % c_stride;
          if (within >= t.m * o.args.ldc || within % o.args.ldc >= t.n) {
            ASSERT_EQ(batched[at], c_before[at]) << "element " << at << " outside C";
          }
        }
      }
}

// The epilogue comes after the product: a row bias with one rounding more, as a pass of its own
// would, then (when asked) a ReLU, bit for bit relu_forward's values.
TEST(Gemm, BatchedProductAppliesTheEpilogueAfterTheSum) {
  const Case t{false, false, 20, 49, 300, 1.0f, 0.0f};  // two k slices
  const int64_t batch = 9;
  const Operands o = make_operands(t, 77);
  const int64_t b_stride = t.k * o.args.ldb, c_stride = t.m * o.args.ldc;
  const std::vector<float> b = random_floats(batch * b_stride, 8);
  const std::vector<float> bias = random_floats(t.m, 9);
  for (const bool with_bias : {false, true})
    for (const bool relu : {false, true}) {
      std::vector<float> batched(batch * c_stride), expected(batch * c_stride);
      kernels::cpu::parallel_gemm_batched(o.args, {batch, b_stride, c_stride}, 1.0f, o.a.data(),
                                          b.data(), 0.0f, batched.data(),
                                          {with_bias ? bias.data() : nullptr, relu});
      int64_t clamped = 0;
      for (int64_t i = 0; i < batch; ++i) {
        float* c = expected.data() + i * c_stride;
        kernels::cpu::gemm(o.args, 1.0f, o.a.data(), b.data() + i * b_stride, 0.0f, c);
        for (int64_t r = 0; r < t.m; ++r)
          for (int64_t j = 0; j < t.n; ++j) {
            if (with_bias) c[r * o.args.ldc + j] += bias[r];
            if (relu && c[r * o.args.ldc + j] <= 0.0f) ++clamped;
          }
        if (relu) kernels::cpu::relu_forward(c_stride, c, c);
      }
      if (relu) {
        EXPECT_GT(clamped, batch * t.m * t.n / 4);  // the ReLU has work to do
      }
      SCOPED_TRACE(testing::Message() << "bias " << with_bias << ", relu " << relu);
      expect_same_bits_but_tails(o, t, b, b_stride, c_stride, batch, batched, expected);
    }
}

// A batch whose C is larger than the last-level cache (16 MiB and more) is stored with
// non-temporal stores where a vector is whole and 64-byte aligned (here only some rows' vectors
// are: rows are 3 floats longer than n), the rest as usual: every image's C, with the whole
// epilogue (bias, addend, mask), equals its own product (C 3 MB, stored as usual) bit for bit.
TEST(Gemm, StreamedStoresOfALargeBatchGiveTheSameBits) {
  const Case t{false, false, 256, 3136, 64, 1.0f, 0.0f};  // a 1x1 64 -> 256 layer, 56 x 56
  const int64_t batch = 6;                                // C: 19 MB
  const Operands o = make_operands(t, 91);
  const int64_t b_stride = t.k * o.args.ldb, c_stride = t.m * o.args.ldc;
  const std::vector<float> b = random_floats(batch * b_stride, 10);
  const std::vector<float> bias = random_floats(t.m, 11);
  const std::vector<float> addend = random_floats(batch * c_stride, 12);
  const std::vector<float> mask = random_floats(batch * c_stride, 13);
  std::vector<float> batched(batch * c_stride), expected(batch * c_stride);
  kernels::cpu::parallel_gemm_batched(o.args, {batch, b_stride, c_stride}, 1.0f, o.a.data(),
                                      b.data(), 0.0f, batched.data(),
                                      {bias.data(), false, mask.data(), addend.data()});
  for (int64_t i = 0; i < batch; ++i)
    kernels::cpu::parallel_gemm_batched(
        o.args, {1, b_stride, c_stride}, 1.0f, o.a.data(), b.data() + i * b_stride, 0.0f,
        expected.data() + i * c_stride,
        {bias.data(), false, mask.data() + i * c_stride, addend.data() + i * c_stride});
  int64_t masked = 0;
  for (int64_t at = 0; at < batch * c_stride; ++at) {
    if (at % o.args.ldc >= t.n) continue;  // row padding
    if (!(mask[at] > 0.0f)) ++masked;
    ASSERT_EQ(std::bit_cast<uint32_t>(batched[at]), std::bit_cast<uint32_t>(expected[at]))
        << "element " << at << ": " << batched[at] << " vs " << expected[at];
  }
  EXPECT_GT(masked, batch * t.m * t.n / 4);  // the mask has work to do
}

// A B made by a function (packed_gemm_gathered, the im2col convolution's forward) gives the
// bits of the same B written out: blocks read in place from each task's gathered rows, rows
// gathered once for row groups that share a block (batch 1), images' tails (196 columns), panels
// straddling images (49 columns), several k slices, and the epilogue.
TEST(Gemm, GatheredBGivesTheBitsOfTheSameBWrittenOut) {
  if (!kernels::cpu::packed_gemm_applies({.m = 8, .n = 1, .k = 1}))
    GTEST_SKIP() << "the packed GEMM is not in use";
  struct Written {
    const float* b;
    int64_t ld, image;
  };
  const auto copy_rows = [](const void* context, int64_t image, int64_t k0, int64_t depth,
                            int64_t j0, int64_t width, float* target, int64_t ld) {
    const auto& from = *static_cast<const Written*>(context);
    for (int64_t k = 0; k < depth; ++k)
      std::copy_n(from.b + image * from.image + (k0 + k) * from.ld + j0, width, target + k * ld);
  };
  for (int64_t n : {49, 196, 200, 900})
    for (int64_t batch : {1, 3}) {
      const Case t{false, false, 40, n, 600, 1.0f, 0.0f};
      const Operands o = make_operands(t, 60 + static_cast<uint32_t>(n));
      const int64_t b_stride = t.k * o.args.ldb, c_stride = t.m * o.args.ldc;
      const std::vector<float> b = random_floats(batch * b_stride, 14);
      const std::vector<float> bias = random_floats(t.m, 15);
      const kernels::cpu::RowEpilogue<float> epilogue{.bias = bias.data(), .relu = true};
      std::vector<float> gathered(batch * c_stride, std::nanf("")), written(gathered.size());
      const Written source{b.data(), o.args.ldb, b_stride};
      kernels::cpu::packed_gemm_gathered(o.args, {batch, 0, c_stride}, o.a.data(),
                                         {copy_rows, &source}, gathered.data(), true, epilogue);
      kernels::cpu::packed_gemm(o.args, {batch, b_stride, c_stride}, 1.0f, o.a.data(), b.data(),
                                0.0f, written.data(), true, epilogue);
      for (int64_t at = 0; at < batch * c_stride; ++at) {
        if (at % o.args.ldc >= t.n) continue;  // row padding
        ASSERT_EQ(std::bit_cast<uint32_t>(gathered[at]), std::bit_cast<uint32_t>(written[at]))
            << "n = " << n << ", batch = " << batch << ", element " << at;
      }
    }
}

// Eigen, the reference kernel, and the packed one agree within the float bound on a
// convolution-sized product.
TEST(Gemm, AgreesWithEigenOnAConvolutionShape) {
  const Case t{false, false, 64, 3136, 256, 1.0f, 0.0f};
  const Operands o = make_operands(t, 7);
  std::vector<float> ours = o.c, eigen = o.c;
  kernels::cpu::parallel_gemm(o.args, 1.0f, o.a.data(), o.b.data(), 0.0f, ours.data());
  kernels::cpu::eigen_gemm(o.args, 1.0f, o.a.data(), o.b.data(), 0.0f, eigen.data());
  double worst = 0;
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j)
      worst =
          std::max(worst, double(std::abs(ours[i * o.args.ldc + j] - eigen[i * o.args.ldc + j])));
  // Two float sums of the same 256 products differ by at most 2 * 256 * eps * sum |a b|; with
  // uniform(-1, 1) operands sum |a b| is about 256 / 4 = 64.
  EXPECT_LT(worst, 256 * 2 * std::numeric_limits<float>::epsilon() * 64);
}

}  // namespace
}  // namespace saliency
