#pragma once
// One 1-D pass of the separable blur over one line, written once for the CPU kernel
// (kernels/cpu/blur.cpp: lines spread over the thread pool) and the GPU's (kernels/cuda/blur.cu:
// one thread per line), so both devices sum the same terms in the same order.
#include <cstdint>

#include "kernels/host_device.h"

namespace saliency::kernels::blur {

// Reflection without repeating the edge pixel (PyTorch's "reflect" padding).
SALIENCY_HOST_DEVICE inline int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// A line of n elements `step` apart. forward: dst[j] = sum_t w[t] src[reflect(j + t - r)];
// adjoint: the transpose of that map (dst overwritten).
template <typename T>
SALIENCY_HOST_DEVICE void blur_line(const T* weights, int64_t taps, int64_t n, int64_t step,
                                    bool adjoint, const T* src, T* dst) {
  const int64_t radius = taps / 2;
  if (adjoint) {
    for (int64_t j = 0; j < n; ++j) dst[j * step] = T(0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < taps; ++t)
        dst[reflect(j + t - radius, n) * step] += weights[t] * src[j * step];
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    T total = 0;
    for (int64_t t = 0; t < taps; ++t) total += weights[t] * src[reflect(j + t - radius, n) * step];
    dst[j * step] = total;
  }
}

}  // namespace saliency::kernels::blur
