#include "kernels/cpu/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

// The two source indices and weights of one output coordinate. The source coordinate is
// (dst + 0.5) * in / out - 0.5, clamped at 0 as PyTorch does.
struct Taps {
  int64_t low, high;
  double low_weight, high_weight;
};

std::vector<Taps> taps_for(int64_t in_size, int64_t out_size) {
  std::vector<Taps> taps(static_cast<size_t>(out_size));
  const double scale = double(in_size) / double(out_size);
  for (int64_t i = 0; i < out_size; ++i) {
    const double source = std::max(scale * (i + 0.5) - 0.5, 0.0);
    const int64_t low = std::min(static_cast<int64_t>(source), in_size - 1);
    const int64_t high = low + (low < in_size - 1 ? 1 : 0);
    const double high_weight = source - double(low);
    taps[i] = {low, high, 1.0 - high_weight, high_weight};
  }
  return taps;
}

}  // namespace

template <typename T>
void resize_bilinear_forward(const ResizeGeometry& g, const T* input, T* output) {
  const std::vector<Taps> rows = taps_for(g.in_h, g.out_h), cols = taps_for(g.in_w, g.out_w);
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w + g.out_h * g.out_w),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t p = lo; p < hi; ++p) {
                   const T* in = input + p * g.in_h * g.in_w;
                   T* out = output + p * g.out_h * g.out_w;
                   for (int64_t y = 0; y < g.out_h; ++y) {
                     const Taps& r = rows[y];
                     for (int64_t x = 0; x < g.out_w; ++x) {
                       const Taps& c = cols[x];
                       out[y * g.out_w + x] =
                           T(r.low_weight * (c.low_weight * in[r.low * g.in_w + c.low] +
                                             c.high_weight * in[r.low * g.in_w + c.high]) +
                             r.high_weight * (c.low_weight * in[r.high * g.in_w + c.low] +
                                              c.high_weight * in[r.high * g.in_w + c.high]));
                     }
                   }
                 }
               });
}

template <typename T>
void resize_bilinear_backward(const ResizeGeometry& g, const T* grad_output, T* grad_input) {
  const std::vector<Taps> rows = taps_for(g.in_h, g.out_h), cols = taps_for(g.in_w, g.out_w);
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w + g.out_h * g.out_w),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t p = lo; p < hi; ++p) {
                   T* in = grad_input + p * g.in_h * g.in_w;
                   const T* out = grad_output + p * g.out_h * g.out_w;
                   std::fill_n(in, g.in_h * g.in_w, T(0));
                   for (int64_t y = 0; y < g.out_h; ++y) {
                     const Taps& r = rows[y];
                     for (int64_t x = 0; x < g.out_w; ++x) {
                       const Taps& c = cols[x];
                       const double grad = out[y * g.out_w + x];
                       in[r.low * g.in_w + c.low] += T(grad * r.low_weight * c.low_weight);
                       in[r.low * g.in_w + c.high] += T(grad * r.low_weight * c.high_weight);
                       in[r.high * g.in_w + c.low] += T(grad * r.high_weight * c.low_weight);
                       in[r.high * g.in_w + c.high] += T(grad * r.high_weight * c.high_weight);
                     }
                   }
                 }
               });
}

namespace {
// PyTorch's nearest source index: floor(dst * in / out), computed in float as it does.
std::vector<int64_t> nearest_sources(int64_t in_size, int64_t out_size) {
  std::vector<int64_t> sources(static_cast<size_t>(out_size));
  const float scale = float(in_size) / float(out_size);
  for (int64_t i = 0; i < out_size; ++i)
    sources[i] = std::min(static_cast<int64_t>(std::floor(float(i) * scale)), in_size - 1);
  return sources;
}
}  // namespace

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
  const std::vector<int64_t> rows = nearest_sources(g.in_h, g.out_h),
                             cols = nearest_sources(g.in_w, g.out_w);
  parallel_for(0, g.planes, grain_for(g.out_h * g.out_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      std::fill_n(grad_input + p * g.in_h * g.in_w, g.in_h * g.in_w, T(0));
      for (int64_t y = 0; y < g.out_h; ++y)
        for (int64_t x = 0; x < g.out_w; ++x)
          grad_input[(p * g.in_h + rows[y]) * g.in_w + cols[x]] +=
              grad_output[(p * g.out_h + y) * g.out_w + x];
    }
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
