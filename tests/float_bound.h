#pragma once
// The float32 error bound for convolution results against the float64 im2col path: an element
// summed over k products may differ from the exact value by at most k * 2^-24 * sum |w| |x|
// (the sum computed in float64 on |w| and |x|), whatever the summation order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv2d.h"

namespace saliency::testing {

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

}  // namespace saliency::testing
