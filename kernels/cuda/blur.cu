#include "kernels/blur_line.h"
#include "kernels/cuda/blur.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// One pass: `lines` lines per plane of n elements `step` apart, lines `line_step` apart.
template <typename T>
void pass(const cpu::BlurGeometry& g, const T* weights, int64_t lines, int64_t n, int64_t step,
          int64_t line_step, bool adjoint, const T* in, T* out) {
  const int64_t plane = g.height * g.width, taps = g.taps;
  for_each_index("gaussian_blur", g.planes * lines, [=] __device__(int64_t e) {
    const int64_t offset = e / lines * plane + e % lines * line_step;
    blur::blur_line(weights, taps, n, step, adjoint, in + offset, out + offset);
  });
}

}  // namespace

template <typename T>
void separable_blur_forward(const cpu::BlurGeometry& g, const T* weights, const T* input,
                            T* output) {
  DeviceArray<T> rows_done(g.planes * g.height * g.width);
  pass(g, weights, g.height, g.width, 1, g.width, false, input, rows_done.data());
  pass(g, weights, g.width, g.height, g.width, 1, false, static_cast<const T*>(rows_done.data()),
       output);
}

template <typename T>
void separable_blur_backward(const cpu::BlurGeometry& g, const T* weights, const T* grad_output,
                             T* grad_input) {
  DeviceArray<T> columns_done(g.planes * g.height * g.width);
  pass(g, weights, g.width, g.height, g.width, 1, true, grad_output, columns_done.data());
  pass(g, weights, g.height, g.width, 1, g.width, true, static_cast<const T*>(columns_done.data()),
       grad_input);
}

#define SALIENCY_INSTANTIATE_CUDA_BLUR(T)                                                    \
  template void separable_blur_forward<T>(const cpu::BlurGeometry&, const T*, const T*, T*); \
  template void separable_blur_backward<T>(const cpu::BlurGeometry&, const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_BLUR(float)
SALIENCY_INSTANTIATE_CUDA_BLUR(double)

}  // namespace saliency::kernels::cuda
