#pragma once
// What the convolution kernel tests share (the CPU's implicit GEMM in ops/test_conv2d.cpp, the
// CUDA kernels in test_cuda_kernels.cpp): seeded random inputs, one list of geometries, and
// the float32 error bound against the float64 im2col path: an element summed over k products
// may differ from the exact value by at most k * 2^-24 * sum |w| |x| (the sum computed in
// float64 on |w| and |x|), whatever the summation order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <vector>

#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/conv2d_winograd.h"

namespace saliency::testing {

// count standard-normal floats from `seed`.
inline std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal;
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = normal(engine);
  return values;
}

struct KernelConvCase {
  const char* name;
  kernels::cpu::Conv2dGeometry geometry;
};

// Names the case in test output instead of dumping its bytes.
inline void PrintTo(const KernelConvCase& c, std::ostream* out) {
  *out << c.name;
}

inline std::string case_name(const ::testing::TestParamInfo<KernelConvCase>& info) {
  return info.param.name;
}

// Edge tiles in rows (channels not a multiple of 8) and columns (flat widths that end
// mid-vector), several k slices, row and column blocks, non-square kernels, every padding the
// implicit paths accept, strides 1-3 (with input phases no tap reaches), 1x1 layers, batch 2.
inline const std::vector<KernelConvCase>& kernel_conv_cases() {
  static const std::vector<KernelConvCase> cases = {
      {"3x3_pad1_edges",
       {.batch = 2,
        .in_channels = 5,
        .in_h = 9,
        .in_w = 11,
        .out_channels = 13,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
      {"3x3_unpadded",
       {.in_channels = 3, .in_h = 6, .in_w = 7, .out_channels = 8, .kernel_h = 3, .kernel_w = 3}},
      {"5x5_pad2",
       {.in_channels = 4,
        .in_h = 12,
        .in_w = 10,
        .out_channels = 9,
        .kernel_h = 5,
        .kernel_w = 5,
        .pad_h = 2,
        .pad_w = 2}},
      {"7x7_pad3",
       {.in_channels = 3,
        .in_h = 10,
        .in_w = 9,
        .out_channels = 4,
        .kernel_h = 7,
        .kernel_w = 7,
        .pad_h = 3,
        .pad_w = 3}},
      {"3x3_pad2",
       {.in_channels = 2,
        .in_h = 5,
        .in_w = 6,
        .out_channels = 3,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 2,
        .pad_w = 2}},
      {"1x3_row",
       {.in_channels = 2,
        .in_h = 1,
        .in_w = 50,
        .out_channels = 3,
        .kernel_h = 1,
        .kernel_w = 3,
        .pad_w = 1}},
      {"3x1_pad_h_only",
       {.in_channels = 6,
        .in_h = 7,
        .in_w = 5,
        .out_channels = 17,
        .kernel_h = 3,
        .kernel_w = 1,
        .pad_h = 1}},
      {"2x2_even",
       {.in_channels = 3,
        .in_h = 8,
        .in_w = 8,
        .out_channels = 5,
        .kernel_h = 2,
        .kernel_w = 2,
        .pad_h = 1}},
      {"3x3_on_one_pixel",
       {.in_channels = 9,
        .in_h = 1,
        .in_w = 1,
        .out_channels = 3,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
      {"3x3_stride2_odd",
       {.batch = 2,
        .in_channels = 5,
        .in_h = 13,
        .in_w = 11,
        .out_channels = 10,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride_h = 2,
        .stride_w = 2,
        .pad_h = 1,
        .pad_w = 1}},
      {"3x3_stride2_wide",  // output rows of 16 and more (full vectors along a row)
       {.in_channels = 4,
        .in_h = 7,
        .in_w = 45,
        .out_channels = 9,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride_h = 2,
        .stride_w = 2,
        .pad_h = 1,
        .pad_w = 1}},
      // Rows of 75 outputs at stride 2, two images of 825 columns: the gathered im2col's vector
      // steps (16 outputs from 32 inputs) at every offset, runs starting mid-row at block edges.
      {"3x3_stride2_rows_of_75",
       {.batch = 2,
        .in_channels = 8,
        .in_h = 21,
        .in_w = 150,
        .out_channels = 10,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride_h = 2,
        .stride_w = 2,
        .pad_h = 1,
        .pad_w = 1}},
      {"3x3_stride2_even_unpadded",
       {.in_channels = 4,
        .in_h = 12,
        .in_w = 10,
        .out_channels = 9,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride_h = 2,
        .stride_w = 2}},
      {"7x7_stride2_stem",
       {.in_channels = 3,
        .in_h = 31,
        .in_w = 29,
        .out_channels = 16,
        .kernel_h = 7,
        .kernel_w = 7,
        .stride_h = 2,
        .stride_w = 2,
        .pad_h = 3,
        .pad_w = 3}},
      {"2x2_stride2",
       {.in_channels = 3,
        .in_h = 9,
        .in_w = 8,
        .out_channels = 5,
        .kernel_h = 2,
        .kernel_w = 2,
        .stride_h = 2,
        .stride_w = 2}},
      {"2x3_stride3_gaps",
       {.in_channels = 2,
        .in_h = 11,
        .in_w = 10,
        .out_channels = 3,
        .kernel_h = 2,
        .kernel_w = 3,
        .stride_h = 3,
        .stride_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
      {"stride_per_axis",
       {.in_channels = 3,
        .in_h = 10,
        .in_w = 9,
        .out_channels = 4,
        .kernel_h = 3,
        .kernel_w = 1,
        .stride_h = 2,
        .stride_w = 1,
        .pad_h = 1}},
      {"1x1",
       {.in_channels = 70, .in_h = 7, .in_w = 7, .out_channels = 67, .kernel_h = 1, .kernel_w = 1}},
      {"1x1_batch3_7x7",  // images of 49 columns: packed GEMM panels straddle images
       {.batch = 3,
        .in_channels = 40,
        .in_h = 7,
        .in_w = 7,
        .out_channels = 24,
        .kernel_h = 1,
        .kernel_w = 1}},
      {"1x1_stride2_downsample",
       {.in_channels = 24,
        .in_h = 14,
        .in_w = 14,
        .out_channels = 40,
        .kernel_h = 1,
        .kernel_w = 1,
        .stride_h = 2,
        .stride_w = 2}},
      {"blocks_and_slices",
       {.in_channels = 70,
        .in_h = 30,
        .in_w = 30,
        .out_channels = 67,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
      // A 7 x 7 map: 63 flat columns (7 rows of 9 padded), a full tile and a 15-column one.
      {"3x3_on_7x7_split_tiles",
       {.batch = 2,
        .in_channels = 40,
        .in_h = 7,
        .in_w = 7,
        .out_channels = 21,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
      {"resnet_layer3_3x3",
       {.in_channels = 256,
        .in_h = 14,
        .in_w = 14,
        .out_channels = 256,
        .kernel_h = 3,
        .kernel_w = 3,
        .pad_h = 1,
        .pad_w = 1}},
  };
  return cases;
}

// A small padded 3x3 layer, for the tests of which geometries a kernel accepts.
inline kernels::cpu::Conv2dGeometry small_3x3_geometry() {
  return {.in_channels = 4,
          .in_h = 8,
          .in_w = 8,
          .out_channels = 4,
          .kernel_h = 3,
          .kernel_w = 3,
          .pad_h = 1,
          .pad_w = 1};
}

// Sets the process-wide convolution algorithm for a scope and restores the previous choice on
// leaving it, also when an ASSERT returns early.
class ConvAlgorithmScope {
 public:
  explicit ConvAlgorithmScope(kernels::cpu::ConvAlgorithmChoice choice)
      : previous_(kernels::cpu::requested_conv_algorithm()) {
    kernels::cpu::set_conv_algorithm(choice);
  }
  ~ConvAlgorithmScope() { kernels::cpu::set_conv_algorithm(previous_); }
  ConvAlgorithmScope(const ConvAlgorithmScope&) = delete;
  ConvAlgorithmScope& operator=(const ConvAlgorithmScope&) = delete;

 private:
  kernels::cpu::ConvAlgorithmChoice previous_;
};

// Builds without AVX-512 or AVX2 have no Winograd path; its tests skip there.
#define SKIP_UNLESS_WINOGRAD_IS_BUILT()                                       \
  if (!kernels::cpu::winograd_conv2d_supports(testing::small_3x3_geometry())) \
  GTEST_SKIP() << "Winograd path not built (needs AVX-512 or AVX2)"

// The positions-as-rows kernel is built with AVX-512 or AVX2; its tests skip elsewhere. (A 64-channel 3x3 layer on a 14 x 14 map is one it takes.)
#define SKIP_UNLESS_POSITION_ROWS_ARE_BUILT()                                              \
  if (!kernels::cpu::position_rows_conv2d_applies(                                         \
          testing::changed(                                                                \
              testing::small_3x3_geometry(),                                               \
              [](auto& c) { c.in_channels = c.out_channels = 64, c.in_h = c.in_w = 14; }), \
          kernels::cpu::ConvPass::forward))                                                \
  GTEST_SKIP() << "positions-as-rows kernel not built (needs AVX-512 or AVX2)"

// g with change(g) applied.
template <typename Change>
kernels::cpu::Conv2dGeometry changed(kernels::cpu::Conv2dGeometry g, Change change) {
  change(g);
  return g;
}

template <typename From>
std::vector<double> widened(const std::vector<From>& values, bool absolute) {
  std::vector<double> out(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    out[i] = absolute ? std::abs(double(values[i])) : double(values[i]);
  return out;
}

// Checks got[i] against exact[i] within terms * 2^-24 * magnitude[i]; reports the first few.
inline void expect_within_float_bound(const std::vector<float>& got,
                                      const std::vector<double>& exact,
                                      const std::vector<double>& magnitude, int64_t terms) {
  ASSERT_EQ(got.size(), exact.size());
  const double unit = std::ldexp(1.0, -24) * double(terms);
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    if (!(std::abs(double(got[i]) - exact[i]) <= unit * magnitude[i] + 1e-30)) {
      ADD_FAILURE() << "element " << i << ": " << got[i] << " vs " << exact[i];
      ++failures;
    }
  }
}

// Checks a float32 convolution forward result (output of geometry g for input x, weight w)
// against the float64 im2col path within the bound.
inline void expect_conv_forward_within_bound(const kernels::cpu::Conv2dGeometry& g,
                                             const std::vector<float>& x,
                                             const std::vector<float>& w,
                                             const std::vector<float>& got) {
  std::vector<double> exact(got.size()), magnitude(got.size());
  kernels::cpu::im2col_conv2d_forward<double>(g, widened(x, false).data(), widened(w, false).data(),
                                              exact.data());
  kernels::cpu::im2col_conv2d_forward<double>(g, widened(x, true).data(), widened(w, true).data(),
                                              magnitude.data());
  expect_within_float_bound(got, exact, magnitude, g.patch_size());
}

// The same for backward-to-input (input gradient of geometry g for output gradient dy).
inline void expect_conv_backward_input_within_bound(const kernels::cpu::Conv2dGeometry& g,
                                                    const std::vector<float>& dy,
                                                    const std::vector<float>& w,
                                                    const std::vector<float>& got) {
  std::vector<double> exact(got.size()), magnitude(got.size());
  kernels::cpu::im2col_conv2d_backward_input<double>(g, widened(dy, false).data(),
                                                     widened(w, false).data(), exact.data());
  kernels::cpu::im2col_conv2d_backward_input<double>(g, widened(dy, true).data(),
                                                     widened(w, true).data(), magnitude.data());
  expect_within_float_bound(got, exact, magnitude, g.out_channels * g.kernel_h * g.kernel_w);
}

// The same for the weight gradient (of geometry g for output gradient dy and input x).
inline void expect_conv_backward_weight_within_bound(const kernels::cpu::Conv2dGeometry& g,
                                                     const std::vector<float>& dy,
                                                     const std::vector<float>& x,
                                                     const std::vector<float>& got) {
  std::vector<double> exact(got.size()), magnitude(got.size());
  kernels::cpu::conv2d_backward_weight<double>(g, widened(dy, false).data(),
                                               widened(x, false).data(), exact.data());
  kernels::cpu::conv2d_backward_weight<double>(g, widened(dy, true).data(), widened(x, true).data(),
                                               magnitude.data());
  expect_within_float_bound(got, exact, magnitude, g.batch * g.out_h() * g.out_w());
}

}  // namespace saliency::testing
