#include "kernels/cpu/blur.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

int64_t reflect(int64_t i, int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// One 1-D pass over `lines` lines of length n, elements `step` apart, lines `line_step` apart.
// forward: out[j] = sum_t w[t] in[reflect(j + t - r)]; adjoint: the transpose of that map.
template <typename T>
void pass(const BlurGeometry& g, const T* weights, int64_t lines, int64_t n, int64_t step,
          int64_t line_step, int64_t plane, bool adjoint, const T* in, T* out) {
  const int64_t radius = g.taps / 2;
  parallel_for(0, g.planes, grain_for(plane * g.taps), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      for (int64_t line = 0; line < lines; ++line) {
        const T* src = in + p * plane + line * line_step;
        T* dst = out + p * plane + line * line_step;
        if (adjoint) {
          for (int64_t j = 0; j < n; ++j) dst[j * step] = T(0);
          for (int64_t j = 0; j < n; ++j)
            for (int64_t t = 0; t < g.taps; ++t)
              dst[reflect(j + t - radius, n) * step] += weights[t] * src[j * step];
        } else {
          for (int64_t j = 0; j < n; ++j) {
            T total = 0;
            for (int64_t t = 0; t < g.taps; ++t)
              total += weights[t] * src[reflect(j + t - radius, n) * step];
            dst[j * step] = total;
          }
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void separable_blur_forward(const BlurGeometry& g, const T* weights, const T* input, T* output) {
  const int64_t plane = g.height * g.width;
  Scratch<T> rows_done(g.planes * plane);
  pass(g, weights, g.height, g.width, 1, g.width, plane, false, input, rows_done.data());
  pass(g, weights, g.width, g.height, g.width, 1, plane, false, rows_done.data(), output);
}

template <typename T>
void separable_blur_backward(const BlurGeometry& g, const T* weights, const T* grad_output,
                             T* grad_input) {
  const int64_t plane = g.height * g.width;
  Scratch<T> columns_done(g.planes * plane);
  pass(g, weights, g.width, g.height, g.width, 1, plane, true, grad_output, columns_done.data());
  pass(g, weights, g.height, g.width, 1, g.width, plane, true, columns_done.data(), grad_input);
}

template void separable_blur_forward<float>(const BlurGeometry&, const float*, const float*,
                                            float*);
template void separable_blur_forward<double>(const BlurGeometry&, const double*, const double*,
                                             double*);
template void separable_blur_backward<float>(const BlurGeometry&, const float*, const float*,
                                             float*);
template void separable_blur_backward<double>(const BlurGeometry&, const double*, const double*,
                                              double*);

}  // namespace saliency::kernels::cpu
