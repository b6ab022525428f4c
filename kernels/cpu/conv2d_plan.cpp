#include "kernels/cpu/conv2d_plan.h"

#include <algorithm>

namespace saliency::kernels::cpu {
namespace {

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The plane of a stride-1 correlation over a source padded by (pad_h, pad_w) a side: source
// position (y, x) at (y + pad_h, x + pad_w), each row's pad_w zero columns serving as its own
// left padding and the previous row's right padding (see conv2d_plan.h), and one row of zeros
// more at the bottom for the last row's taps that run on past its end.
PhasePlanes unit_stride_planes(int64_t channels, int64_t height, int64_t width, int64_t pad_h,
                               int64_t pad_w) {
  return {channels, height, width, pad_h, pad_w, 1, 1, height + 2 * pad_h + 1, width + pad_w};
}

// Backward-to-input of a stride-1 convolution: the forward correlation of the output gradient,
// padded by kernel - 1 - pad, with the kernel flipped and its channels swapped (A(i, o, t) =
// weight[o][i][taps - 1 - t]). Input position (Y, X) gets tap (m, n) from the output gradient at
// (Y + pad_h - m, X + pad_w - n): plane position (Y + kernel_h - 1 - m, X + kernel_w - 1 - n).
Correlation unit_stride_backward_input(const Conv2dGeometry& g) {
  Correlation c;
  c.planes = unit_stride_planes(g.out_channels, g.out_h(), g.out_w(), g.kernel_h - 1 - g.pad_h,
                                g.kernel_w - 1 - g.pad_w);
  c.at = {g.in_h, g.in_w, g.in_h, g.in_w, 0, 1, 0, 1};
  c.target_channels = g.in_channels;
  c.first = 0;
  const int64_t taps = g.kernel_h * g.kernel_w;
  c.a_row = taps;
  c.a_outer = g.in_channels * taps;
  for (int64_t m = 0; m < g.kernel_h; ++m)
    for (int64_t n = 0; n < g.kernel_w; ++n) {
      c.a_tap.push_back(m * g.kernel_w + n);
      c.b_tap.push_back(c.planes.offset(0, 0, g.kernel_h - 1 - m, g.kernel_w - 1 - n));
    }
  return c;
}

}  // namespace

Correlation forward_correlation(const Conv2dGeometry& g) {
  Correlation c;
  if (g.stride_h == 1 && g.stride_w == 1)
    c.planes = unit_stride_planes(g.in_channels, g.in_h, g.in_w, g.pad_h, g.pad_w);
  else
    c.planes = {g.in_channels,
                g.in_h,
                g.in_w,
                g.pad_h,
                g.pad_w,
                g.stride_h,
                g.stride_w,
                ceil_div(g.in_h + 2 * g.pad_h, g.stride_h),
                ceil_div(g.in_w + 2 * g.pad_w, g.stride_w)};
  c.at = {g.out_h(), g.out_w(), g.out_h(), g.out_w(), 0, 1, 0, 1};
  const int64_t taps = g.kernel_h * g.kernel_w;
  c.target_channels = g.out_channels;
  c.first = 0;
  c.a_row = g.in_channels * taps;  // A(out channel, in channel, tap) = weight[out][in][tap]
  c.a_outer = taps;
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t ky = t / g.kernel_w, kx = t % g.kernel_w;
    c.a_tap.push_back(t);
    c.b_tap.push_back(
        c.planes.offset(ky % g.stride_h, kx % g.stride_w, ky / g.stride_h, kx / g.stride_w));
  }
  return c;
}

std::vector<Correlation> backward_input_correlations(const Conv2dGeometry& g) {
  if (g.stride_h == 1 && g.stride_w == 1) return {unit_stride_backward_input(g)};
  // (Strided layers; stride 1 takes unit_stride_backward_input above.)
  // Input position Y = sh * y + ky - pad receives weight[ky] * grad_output[y]. In phase
  // a = (Y + pad) % sh, Y' = (Y + pad) / sh, the taps ky = a + sh * m reach it from y = Y' - m:
  // a stride-1 correlation of the output gradient, padded by M - 1 (M such taps per axis),
  // with the phase's taps flipped. A(in channel, out channel, tap).
  //
  // All phases read one set of planes, padded for the phase with the most taps (a phase with
  // fewer starts further in), so that the output gradient is copied into planes once rather than
  // once per phase: the 7x7/2 stem's four phases had spent half their time copying.
  const auto taps_along = [](int64_t phase, int64_t kernel, int64_t stride) {
    return phase < kernel ? ceil_div(kernel - phase, stride) : int64_t(0);
  };
  const int64_t top = std::max<int64_t>(0, taps_along(0, g.kernel_h, g.stride_h) - 1);
  const int64_t left = std::max<int64_t>(0, taps_along(0, g.kernel_w, g.stride_w) - 1);
  const int64_t last_y = ceil_div(g.pad_h + g.in_h, g.stride_h);  // past the last phase row
  const int64_t last_x = ceil_div(g.pad_w + g.in_w, g.stride_w);
  const PhasePlanes planes{g.out_channels, g.out_h(),    g.out_w(), top, left, 1, 1,
                           top + last_y,   left + last_x};
  const int64_t taps = g.kernel_h * g.kernel_w;
  std::vector<Correlation> plans;
  for (int64_t a = 0; a < g.stride_h; ++a) {
    for (int64_t b = 0; b < g.stride_w; ++b) {
      const int64_t first_y = ceil_div(g.pad_h - a, g.stride_h),
                    end_y = ceil_div(g.pad_h + g.in_h - a, g.stride_h);
      const int64_t first_x = ceil_div(g.pad_w - b, g.stride_w),
                    end_x = ceil_div(g.pad_w + g.in_w - b, g.stride_w);
      if (end_y <= first_y || end_x <= first_x) continue;  // no input position in this phase
      Correlation c;
      c.at = {g.in_h,
              g.in_w,
              end_y - first_y,
              end_x - first_x,
              g.stride_h * first_y + a - g.pad_h,
              g.stride_h,
              g.stride_w * first_x + b - g.pad_w,
              g.stride_w};
      c.target_channels = g.in_channels;
      c.a_row = taps;
      c.a_outer = g.in_channels * taps;
      const int64_t taps_y = taps_along(a, g.kernel_h, g.stride_h);
      const int64_t taps_x = taps_along(b, g.kernel_w, g.stride_w);
      c.planes = planes;
      // Tap (m, n) reads output position (Y' - m, X' - n): plane row Y' - m + top.
      const int64_t shift_y = top - std::max<int64_t>(0, taps_y - 1);
      const int64_t shift_x = left - std::max<int64_t>(0, taps_x - 1);
      c.first = planes.offset(0, 0, first_y + shift_y, first_x + shift_x);
      for (int64_t m = 0; m < taps_y; ++m)
        for (int64_t n = 0; n < taps_x; ++n) {
          c.a_tap.push_back((a + g.stride_h * m) * g.kernel_w + b + g.stride_w * n);
          c.b_tap.push_back(planes.offset(0, 0, taps_y - 1 - m, taps_x - 1 - n));
        }
      plans.push_back(std::move(c));
    }
  }
  return plans;
}

}  // namespace saliency::kernels::cpu
