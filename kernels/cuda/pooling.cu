#include "kernels/cuda/check.cuh"
#include "kernels/cuda/pooling.h"

namespace saliency::kernels::cuda {
namespace {

// Output cell i of an adaptive pool covers [floor(i * in / out), ceil((i + 1) * in / out)).
__device__ inline int64_t window_begin(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
__device__ inline int64_t window_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

}  // namespace

// One thread per output cell.
template <typename T>
void max_pool2d_forward(const cpu::PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for_each_index("max_pool2d", g.planes * out_h * out_w, [=] __device__(int64_t e) {
    const int64_t p = e / (out_h * out_w), y = e / out_w % out_h, x = e % out_w;
    const int64_t top = y * g.stride_h - g.pad_h, left = x * g.stride_w - g.pad_w;
    const int64_t row_begin = max(top, int64_t(0)), row_end = min(top + g.kernel_h, g.in_h);
    const int64_t col_begin = max(left, int64_t(0)), col_end = min(left + g.kernel_w, g.in_w);
    const T* plane = input + p * g.in_h * g.in_w;
    T best = T(-INFINITY);
    int64_t best_index = row_begin * g.in_w + col_begin;
    for (int64_t r = row_begin; r < row_end; ++r)
      for (int64_t c = col_begin; c < col_end; ++c) {
        const T value = plane[r * g.in_w + c];
        if (value > best || value != value) {  // strictly greater: the first of equals wins
          best = value;
          best_index = r * g.in_w + c;
        }
      }
    output[e] = best;
    argmax[e] = static_cast<int32_t>(best_index);
  });
}

// One thread per input element: the sum, in output-cell order, of the gradients of the cells
// whose window holds it and chose it.
template <typename T>
void max_pool2d_backward(const cpu::PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  for_each_index("max_pool2d backward", g.planes * g.in_h * g.in_w, [=] __device__(int64_t e) {
    const int64_t p = e / (g.in_h * g.in_w), r = e / g.in_w % g.in_h, c = e % g.in_w;
    // Cells y with y * stride - pad <= r < y * stride - pad + kernel, i.e. from
    // floor((r + pad - kernel) / stride) + 1 (0 when that is negative) to (r + pad) / stride.
    const int64_t below_y = r + g.pad_h - g.kernel_h, below_x = c + g.pad_w - g.kernel_w;
    const int64_t y_begin = below_y < 0 ? 0 : below_y / g.stride_h + 1;
    const int64_t y_end = min(out_h, (r + g.pad_h) / g.stride_h + 1);
    const int64_t x_begin = below_x < 0 ? 0 : below_x / g.stride_w + 1;
    const int64_t x_end = min(out_w, (c + g.pad_w) / g.stride_w + 1);
    const int32_t me = static_cast<int32_t>(r * g.in_w + c);
    T sum = T(0);
    for (int64_t y = y_begin; y < y_end; ++y)
      for (int64_t x = x_begin; x < x_end; ++x) {
        const int64_t cell = (p * out_h + y) * out_w + x;
        if (argmax[cell] == me) sum += grad_output[cell];
      }
    grad_input[e] = sum;
  });
}

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                 int64_t out_w, const T* input, T* output) {
  for_each_index("adaptive_avg_pool2d", planes * out_h * out_w, [=] __device__(int64_t e) {
    const int64_t p = e / (out_h * out_w), y = e / out_w % out_h, x = e % out_w;
    const int64_t r0 = window_begin(y, in_h, out_h), r1 = window_end(y, in_h, out_h);
    const int64_t c0 = window_begin(x, in_w, out_w), c1 = window_end(x, in_w, out_w);
    const T* plane = input + p * in_h * in_w;
    T sum = T(0);
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = c0; c < c1; ++c) sum += plane[r * in_w + c];
    output[e] = sum / T((r1 - r0) * (c1 - c0));
  });
}

// One thread per input element, summing the shares of the cells covering it in cell order.
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                  int64_t out_w, const T* grad_output, T* grad_input) {
  for_each_index("adaptive_avg_pool2d backward", planes * in_h * in_w, [=] __device__(int64_t e) {
    const int64_t p = e / (in_h * in_w), r = e / in_w % in_h, c = e % in_w;
    T sum = T(0);
    for (int64_t y = 0; y < out_h; ++y) {
      const int64_t r0 = window_begin(y, in_h, out_h), r1 = window_end(y, in_h, out_h);
      if (r < r0 || r >= r1) continue;
      for (int64_t x = 0; x < out_w; ++x) {
        const int64_t c0 = window_begin(x, in_w, out_w), c1 = window_end(x, in_w, out_w);
        if (c < c0 || c >= c1) continue;
        sum += grad_output[(p * out_h + y) * out_w + x] / T((r1 - r0) * (c1 - c0));
      }
    }
    grad_input[e] = sum;
  });
}

#define SALIENCY_INSTANTIATE_CUDA_POOLING(T)                                                    \
  template void max_pool2d_forward<T>(const cpu::PoolGeometry&, const T*, T*, int32_t*);        \
  template void max_pool2d_backward<T>(const cpu::PoolGeometry&, const T*, const int32_t*, T*); \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                               const T*, T*);                                   \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,    \
                                                const T*, T*);
SALIENCY_INSTANTIATE_CUDA_POOLING(float)
SALIENCY_INSTANTIATE_CUDA_POOLING(double)

}  // namespace saliency::kernels::cuda
