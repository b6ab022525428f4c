#include "kernels/cuda/check.cuh"
#include "kernels/cuda/resize.h"
#include "kernels/resize_plane.h"

namespace saliency::kernels::cuda {

template <typename T>
void resize_bilinear_forward(const cpu::ResizeGeometry& g, const T* input, T* output) {
  const int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  for_each_index("resize_bilinear", g.planes * out_h * out_w, [=] __device__(int64_t e) {
    const int64_t p = e / (out_h * out_w), y = e / out_w % out_h, x = e % out_w;
    output[e] =
        resize::bilinear_pixel(input + p * in_h * in_w, in_w, resize::bilinear_taps(y, in_h, out_h),
                               resize::bilinear_taps(x, in_w, out_w));
  });
}

template <typename T>
void resize_bilinear_backward(const cpu::ResizeGeometry& g, const T* grad_output, T* grad_input) {
  const int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  for_each_index("resize_bilinear backward", g.planes, [=] __device__(int64_t p) {
    resize::bilinear_plane_backward(in_h, in_w, out_h, out_w, grad_output + p * out_h * out_w,
                                    grad_input + p * in_h * in_w);
  });
}

template <typename T>
void resize_nearest_forward(const cpu::ResizeGeometry& g, const T* input, T* output) {
  const int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  for_each_index("resize_nearest", g.planes * out_h * out_w, [=] __device__(int64_t e) {
    const int64_t p = e / (out_h * out_w), y = e / out_w % out_h, x = e % out_w;
    output[e] = input[(p * in_h + resize::nearest_source(y, in_h, out_h)) * in_w +
                      resize::nearest_source(x, in_w, out_w)];
  });
}

template <typename T>
void resize_nearest_backward(const cpu::ResizeGeometry& g, const T* grad_output, T* grad_input) {
  const int64_t in_h = g.in_h, in_w = g.in_w, out_h = g.out_h, out_w = g.out_w;
  for_each_index("resize_nearest backward", g.planes, [=] __device__(int64_t p) {
    resize::nearest_plane_backward(in_h, in_w, out_h, out_w, grad_output + p * out_h * out_w,
                                   grad_input + p * in_h * in_w);
  });
}

#define SALIENCY_INSTANTIATE_CUDA_RESIZE(T)                                            \
  template void resize_bilinear_forward<T>(const cpu::ResizeGeometry&, const T*, T*);  \
  template void resize_bilinear_backward<T>(const cpu::ResizeGeometry&, const T*, T*); \
  template void resize_nearest_forward<T>(const cpu::ResizeGeometry&, const T*, T*);   \
  template void resize_nearest_backward<T>(const cpu::ResizeGeometry&, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_RESIZE(float)
SALIENCY_INSTANTIATE_CUDA_RESIZE(double)

}  // namespace saliency::kernels::cuda
