#include "kernels/cpu/pooling.h"

#include <algorithm>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

// The input rows (or columns) under output cell `index` of a padded window, clipped to the
// input, and the window's extent counting padding (clipped to the padded input, as PyTorch).
struct Window {
  int64_t begin, end, padded_extent;
};
Window window(int64_t index, int64_t stride, int64_t pad, int64_t kernel, int64_t size) {
  const int64_t start = index * stride - pad;
  const int64_t stop = std::min(start + kernel, size + pad);
  return {std::max<int64_t>(start, 0), std::min(stop, size), stop - start};
}

Window adaptive_window(int64_t index, int64_t in_size, int64_t out_size) {
  const int64_t begin = index * in_size / out_size;
  const int64_t end = ((index + 1) * in_size + out_size - 1) / out_size;
  return {begin, end, end - begin};
}

// Runs fn(plane, y, x, rows, cols) for every output cell, planes in parallel.
template <typename Fn>
void for_each_pool_cell(const PoolGeometry& g, Fn fn) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      for (int64_t y = 0; y < out_h; ++y)
        for (int64_t x = 0; x < out_w; ++x)
          fn(p, y * out_w + x, window(y, g.stride_h, g.pad_h, g.kernel_h, g.in_h),
             window(x, g.stride_w, g.pad_w, g.kernel_w, g.in_w));
  });
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  for_each_pool_cell(g, [&](int64_t p, int64_t cell, Window rows, Window cols) {
    const T* plane = input + p * in_plane;
    T best = -std::numeric_limits<T>::infinity();
    int64_t best_index = rows.begin * g.in_w + cols.begin;
    for (int64_t r = rows.begin; r < rows.end; ++r)
      for (int64_t c = cols.begin; c < cols.end; ++c) {
        const T value = plane[r * g.in_w + c];
        // Strictly greater: the first of equal values keeps the gradient. NaN propagates.
        if (value > best || value != value) {
          best = value;
          best_index = r * g.in_w + c;
        }
      }
    output[p * out_plane + cell] = best;
    argmax[p * out_plane + cell] = static_cast<int32_t>(best_index);
  });
}

template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      T* plane = grad_input + p * in_plane;
      std::fill_n(plane, in_plane, T(0));
      for (int64_t i = 0; i < out_plane; ++i)
        plane[argmax[p * out_plane + i]] += grad_output[p * out_plane + i];
    }
  });
}

template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, bool count_include_pad, const T* input, T* output) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  for_each_pool_cell(g, [&](int64_t p, int64_t cell, Window rows, Window cols) {
    const T* plane = input + p * in_plane;
    T sum = 0;
    for (int64_t r = rows.begin; r < rows.end; ++r)
      for (int64_t c = cols.begin; c < cols.end; ++c) sum += plane[r * g.in_w + c];
    const int64_t divisor = count_include_pad ? rows.padded_extent * cols.padded_extent
                                              : (rows.end - rows.begin) * (cols.end - cols.begin);
    output[p * out_plane + cell] = divisor > 0 ? sum / T(divisor) : T(0);
  });
}

template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, bool count_include_pad, const T* grad_output,
                         T* grad_input) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w), [&](int64_t lo, int64_t hi) {
    std::fill(grad_input + lo * in_plane, grad_input + hi * in_plane, T(0));
  });
  for_each_pool_cell(g, [&](int64_t p, int64_t cell, Window rows, Window cols) {
    T* plane = grad_input + p * in_plane;
    const int64_t divisor = count_include_pad ? rows.padded_extent * cols.padded_extent
                                              : (rows.end - rows.begin) * (cols.end - cols.begin);
    if (divisor == 0) return;
    const T share = grad_output[p * out_plane + cell] / T(divisor);
    for (int64_t r = rows.begin; r < rows.end; ++r)
      for (int64_t c = cols.begin; c < cols.end; ++c) plane[r * g.in_w + c] += share;
  });
}

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                 int64_t out_w, const T* input, T* output) {
  parallel_for(0, planes, grain_for(in_h * in_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const T* plane = input + p * in_h * in_w;
      for (int64_t y = 0; y < out_h; ++y) {
        const Window rows = adaptive_window(y, in_h, out_h);
        for (int64_t x = 0; x < out_w; ++x) {
          const Window cols = adaptive_window(x, in_w, out_w);
          T sum = 0;
          for (int64_t r = rows.begin; r < rows.end; ++r)
            for (int64_t c = cols.begin; c < cols.end; ++c) sum += plane[r * in_w + c];
          output[(p * out_h + y) * out_w + x] = sum / T(rows.padded_extent * cols.padded_extent);
        }
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                  int64_t out_w, const T* grad_output, T* grad_input) {
  parallel_for(0, planes, grain_for(in_h * in_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      T* plane = grad_input + p * in_h * in_w;
      std::fill_n(plane, in_h * in_w, T(0));
      for (int64_t y = 0; y < out_h; ++y) {
        const Window rows = adaptive_window(y, in_h, out_h);
        for (int64_t x = 0; x < out_w; ++x) {
          const Window cols = adaptive_window(x, in_w, out_w);
          const T share =
              grad_output[(p * out_h + y) * out_w + x] / T(rows.padded_extent * cols.padded_extent);
          for (int64_t r = rows.begin; r < rows.end; ++r)
            for (int64_t c = cols.begin; c < cols.end; ++c) plane[r * in_w + c] += share;
        }
      }
    }
  });
}

#define SALIENCY_INSTANTIATE_POOLING(T)                                                      \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int32_t*);          \
  template void max_pool2d_backward<T>(const PoolGeometry&, const T*, const int32_t*, T*);   \
  template void avg_pool2d_forward<T>(const PoolGeometry&, bool, const T*, T*);              \
  template void avg_pool2d_backward<T>(const PoolGeometry&, bool, const T*, T*);             \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                               const T*, T*);                                \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, \
                                                const T*, T*);
SALIENCY_INSTANTIATE_POOLING(float)
SALIENCY_INSTANTIATE_POOLING(double)

}  // namespace saliency::kernels::cpu
