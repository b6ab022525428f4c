#include "kernels/cpu/blur.h"

#include "kernels/blur_line.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

// One 1-D pass over `lines` lines of length n, elements `step` apart, lines `line_step` apart.
template <typename T>
void pass(const BlurGeometry& g, const T* weights, int64_t lines, int64_t n, int64_t step,
          int64_t line_step, int64_t plane, bool adjoint, const T* in, T* out) {
  parallel_for(0, g.planes, grain_for(plane * g.taps), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t line = 0; line < lines; ++line)
        blur::blur_line(weights, g.taps, n, step, adjoint, in + p * plane + line * line_step,
                        out + p * plane + line * line_step);
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
