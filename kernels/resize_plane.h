#pragma once
// The arithmetic of resizing one image plane, written once for the CPU kernels
// (kernels/cpu/resize.cpp) and the GPU's (kernels/cuda/resize.cu): source taps and weights per
// output coordinate, an output pixel's value, and one plane's backward scatter in the CPU's
// order, so both devices sum the same terms in the same order.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"

namespace saliency::kernels::resize {

// The two source indices and weights of one output coordinate for bilinear resizing with
// align_corners = false: the source coordinate (dst + 0.5) * in / out - 0.5, clamped at 0 as
// PyTorch does.
struct Taps {
  int64_t low, high;
  double low_weight, high_weight;
};

SALIENCY_HOST_DEVICE inline Taps bilinear_taps(int64_t i, int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double unclamped = scale * (double(i) + 0.5) - 0.5;
  const double source = unclamped < 0.0 ? 0.0 : unclamped;
  const int64_t truncated = static_cast<int64_t>(source);
  const int64_t low = truncated < in_size - 1 ? truncated : in_size - 1;
  const int64_t high = low + (low < in_size - 1 ? 1 : 0);
  const double high_weight = source - double(low);
  return {low, high, 1.0 - high_weight, high_weight};
}

// PyTorch's nearest source index: floor(dst * in / out), computed in float as it does.
SALIENCY_HOST_DEVICE inline int64_t nearest_source(int64_t i, int64_t in_size, int64_t out_size) {
  const float scale = float(in_size) / float(out_size);
  const int64_t source = static_cast<int64_t>(floorf(float(i) * scale));
  return source < in_size - 1 ? source : in_size - 1;
}

// Output pixel (r, c) of a plane `in` [in_h, in_w].
template <typename T>
SALIENCY_HOST_DEVICE T bilinear_pixel(const T* in, int64_t in_w, const Taps& r, const Taps& c) {
  return T(r.low_weight * (c.low_weight * in[r.low * in_w + c.low] +
                           c.high_weight * in[r.low * in_w + c.high]) +
           r.high_weight * (c.low_weight * in[r.high * in_w + c.low] +
                            c.high_weight * in[r.high * in_w + c.high]));
}

// One plane's gradient (overwritten): each output's gradient spread onto its sources, outputs
// in row-major order.
template <typename T>
SALIENCY_HOST_DEVICE void bilinear_plane_backward(int64_t in_h, int64_t in_w, int64_t out_h,
                                                  int64_t out_w, const T* grad_output,
                                                  T* grad_input) {
  for (int64_t i = 0; i < in_h * in_w; ++i) grad_input[i] = T(0);
  for (int64_t y = 0; y < out_h; ++y) {
    const Taps r = bilinear_taps(y, in_h, out_h);
    for (int64_t x = 0; x < out_w; ++x) {
      const Taps c = bilinear_taps(x, in_w, out_w);
      const double grad = grad_output[y * out_w + x];
      grad_input[r.low * in_w + c.low] += T(grad * r.low_weight * c.low_weight);
      grad_input[r.low * in_w + c.high] += T(grad * r.low_weight * c.high_weight);
      grad_input[r.high * in_w + c.low] += T(grad * r.high_weight * c.low_weight);
      grad_input[r.high * in_w + c.high] += T(grad * r.high_weight * c.high_weight);
    }
  }
}

template <typename T>
SALIENCY_HOST_DEVICE void nearest_plane_backward(int64_t in_h, int64_t in_w, int64_t out_h,
                                                 int64_t out_w, const T* grad_output,
                                                 T* grad_input) {
  for (int64_t i = 0; i < in_h * in_w; ++i) grad_input[i] = T(0);
  for (int64_t y = 0; y < out_h; ++y) {
    const int64_t row = nearest_source(y, in_h, out_h);
    for (int64_t x = 0; x < out_w; ++x)
      grad_input[row * in_w + nearest_source(x, in_w, out_w)] += grad_output[y * out_w + x];
  }
}

}  // namespace saliency::kernels::resize
