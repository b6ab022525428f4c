#include "kernels/cpu/resize.h"

#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/resize_plane.h"

namespace saliency::kernels::cpu {
namespace {

std::vector<resize::Taps> taps_for(int64_t in_size, int64_t out_size) {
  std::vector<resize::Taps> taps(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) taps[i] = resize::bilinear_taps(i, in_size, out_size);
  return taps;
}

std::vector<int64_t> nearest_sources(int64_t in_size, int64_t out_size) {
  std::vector<int64_t> sources(static_cast<size_t>(out_size));
  for (int64_t i = 0; i < out_size; ++i) sources[i] = resize::nearest_source(i, in_size, out_size);
  return sources;
}

}  // namespace

template <typename T>
void resize_bilinear_forward(const ResizeGeometry& g, const T* input, T* output) {
  const std::vector<resize::Taps> rows = taps_for(g.in_h, g.out_h),
                                  cols = taps_for(g.in_w, g.out_w);
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w + g.out_h * g.out_w),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t p = lo; p < hi; ++p) {
                   const T* in = input + p * g.in_h * g.in_w;
                   T* out = output + p * g.out_h * g.out_w;
                   for (int64_t y = 0; y < g.out_h; ++y)
                     for (int64_t x = 0; x < g.out_w; ++x)
                       out[y * g.out_w + x] = resize::bilinear_pixel(in, g.in_w, rows[y], cols[x]);
                 }
               });
}

template <typename T>
void resize_bilinear_backward(const ResizeGeometry& g, const T* grad_output, T* grad_input) {
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w + g.out_h * g.out_w),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t p = lo; p < hi; ++p)
                   resize::bilinear_plane_backward(g.in_h, g.in_w, g.out_h, g.out_w,
                                                   grad_output + p * g.out_h * g.out_w,
                                                   grad_input + p * g.in_h * g.in_w);
               });
}

template <typename T>
void resize_nearest_forward(const ResizeGeometry& g, const T* input, T* output) {
  const std::vector<int64_t> rows = nearest_sources(g.in_h, g.out_h),
                             cols = nearest_sources(g.in_w, g.out_w);
  parallel_for(0, g.planes, grain_for(g.out_h * g.out_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t y = 0; y < g.out_h; ++y)
        for (int64_t x = 0; x < g.out_w; ++x)
          output[(p * g.out_h + y) * g.out_w + x] =
              input[(p * g.in_h + rows[y]) * g.in_w + cols[x]];
  });
}

template <typename T>
void resize_nearest_backward(const ResizeGeometry& g, const T* grad_output, T* grad_input) {
  parallel_for(0, g.planes, grain_for(g.out_h * g.out_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      resize::nearest_plane_backward(g.in_h, g.in_w, g.out_h, g.out_w,
                                     grad_output + p * g.out_h * g.out_w,
                                     grad_input + p * g.in_h * g.in_w);
  });
}

template void resize_nearest_forward<float>(const ResizeGeometry&, const float*, float*);
template void resize_nearest_forward<double>(const ResizeGeometry&, const double*, double*);
template void resize_nearest_backward<float>(const ResizeGeometry&, const float*, float*);
template void resize_nearest_backward<double>(const ResizeGeometry&, const double*, double*);

template void resize_bilinear_forward<float>(const ResizeGeometry&, const float*, float*);
template void resize_bilinear_forward<double>(const ResizeGeometry&, const double*, double*);
template void resize_bilinear_backward<float>(const ResizeGeometry&, const float*, float*);
template void resize_bilinear_backward<double>(const ResizeGeometry&, const double*, double*);

}  // namespace saliency::kernels::cpu
