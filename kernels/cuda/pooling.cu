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

// The window geometry as ints, so that the 32-bit instantiation of for_each_index's lambdas does
// all its index arithmetic in 32 bits.
struct Window {
  int in_h, in_w, out_h, out_w, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

Window window_of(const cpu::PoolGeometry& g) {
  const auto fit = [](int64_t v) { return narrow_to_int(v, "pooling: a dimension"); };
  narrow_to_int(g.in_h * g.in_w, "pooling: the plane size");
  return {fit(g.in_h),     fit(g.in_w),     fit(g.out_h()),  fit(g.out_w()), fit(g.kernel_h),
          fit(g.kernel_w), fit(g.stride_h), fit(g.stride_w), fit(g.pad_h),   fit(g.pad_w)};
}

// The output cells whose window holds input (r, c): y with y * stride - pad <= r <
// y * stride - pad + kernel, i.e. from floor((r + pad - kernel) / stride) + 1 (0 when that is
// negative) to (r + pad) / stride, and likewise x.
struct CellRange {
  int y_begin, y_end, x_begin, x_end;
};
__device__ inline CellRange cells_covering(const Window& w, int r, int c) {
  const int below_y = r + w.pad_h - w.kernel_h, below_x = c + w.pad_w - w.kernel_w;
  return {below_y < 0 ? 0 : below_y / w.stride_h + 1, min(w.out_h, (r + w.pad_h) / w.stride_h + 1),
          below_x < 0 ? 0 : below_x / w.stride_w + 1, min(w.out_w, (c + w.pad_w) / w.stride_w + 1)};
}

}  // namespace

// One thread per output cell.
template <typename T>
void max_pool2d_forward(const cpu::PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  const Window w = window_of(g);
  const int cells = w.out_h * w.out_w;
  for_each_index("max_pool2d", g.planes * cells, [=] __device__(auto e) {
    const auto p = e / cells;
    const int cell = int(e - p * cells), y = cell / w.out_w, x = cell - y * w.out_w;
    const int top = y * w.stride_h - w.pad_h, left = x * w.stride_w - w.pad_w;
    const int row_begin = max(top, 0), row_end = min(top + w.kernel_h, w.in_h);
    const int col_begin = max(left, 0), col_end = min(left + w.kernel_w, w.in_w);
    const T* plane = input + p * (w.in_h * w.in_w);
    T best = T(-INFINITY);
    int best_index = row_begin * w.in_w + col_begin;
    for (int r = row_begin; r < row_end; ++r)
      for (int c = col_begin; c < col_end; ++c) {
        const T value = plane[r * w.in_w + c];
        if (value > best || value != value) {  // strictly greater: the first of equals wins
          best = value;
          best_index = r * w.in_w + c;
        }
      }
    output[e] = best;
    argmax[e] = best_index;
  });
}

// One thread per input element: the sum, in output-cell order, of the gradients of the cells
// whose window holds it and chose it.
template <typename T>
void max_pool2d_backward(const cpu::PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input) {
  const Window w = window_of(g);
  const int pixels = w.in_h * w.in_w, cells = w.out_h * w.out_w;
  for_each_index("max_pool2d backward", g.planes * pixels, [=] __device__(auto e) {
    const auto p = e / pixels;
    const int me = int(e - p * pixels), r = me / w.in_w, c = me - r * w.in_w;
    const CellRange cells_of_me = cells_covering(w, r, c);
    const int32_t* plane_argmax = argmax + p * cells;
    const T* plane_grad = grad_output + p * cells;
    T sum = T(0);
    for (int y = cells_of_me.y_begin; y < cells_of_me.y_end; ++y)
      for (int x = cells_of_me.x_begin; x < cells_of_me.x_end; ++x) {
        const int cell = y * w.out_w + x;
        if (plane_argmax[cell] == me) sum += plane_grad[cell];
      }
    grad_input[e] = sum;
  });
}

// An average pool's window along one axis, as the CPU's: [begin, end) of real elements, and the
// extent it has counting the padding it overlaps (at most in + pad).
struct AxisWindow {
  int begin, end, padded_extent;
};
__device__ inline AxisWindow axis_window(int index, int stride, int pad, int kernel, int size) {
  const int start = index * stride - pad;
  const int stop = min(start + kernel, size + pad);
  return {max(start, 0), min(stop, size), stop - start};
}
__device__ inline int average_divisor(AxisWindow rows, AxisWindow cols, bool count_include_pad) {
  return count_include_pad ? rows.padded_extent * cols.padded_extent
                           : (rows.end - rows.begin) * (cols.end - cols.begin);
}

// One thread per output cell, summing its window in row-major order as the CPU does.
template <typename T>
void avg_pool2d_forward(const cpu::PoolGeometry& g, bool count_include_pad, const T* input,
                        T* output) {
  const Window w = window_of(g);
  const int cells = w.out_h * w.out_w;
  for_each_index("avg_pool2d", g.planes * cells, [=] __device__(auto e) {
    const auto p = e / cells;
    const int cell = int(e - p * cells), y = cell / w.out_w, x = cell - y * w.out_w;
    const AxisWindow rows = axis_window(y, w.stride_h, w.pad_h, w.kernel_h, w.in_h);
    const AxisWindow cols = axis_window(x, w.stride_w, w.pad_w, w.kernel_w, w.in_w);
    const T* plane = input + p * (w.in_h * w.in_w);
    T sum = T(0);
    for (int r = rows.begin; r < rows.end; ++r)
      for (int c = cols.begin; c < cols.end; ++c) sum += plane[r * w.in_w + c];
    const int divisor = average_divisor(rows, cols, count_include_pad);
    output[e] = divisor > 0 ? sum / T(divisor) : T(0);
  });
}

// One thread per input element: the shares of the cells whose window holds it, in cell order
// (the order in which the CPU's scatter adds them).
template <typename T>
void avg_pool2d_backward(const cpu::PoolGeometry& g, bool count_include_pad, const T* grad_output,
                         T* grad_input) {
  const Window w = window_of(g);
  const int pixels = w.in_h * w.in_w, cells = w.out_h * w.out_w;
  for_each_index("avg_pool2d backward", g.planes * pixels, [=] __device__(auto e) {
    const auto p = e / pixels;
    const int me = int(e - p * pixels), r = me / w.in_w, c = me - r * w.in_w;
    const CellRange cells_of_me = cells_covering(w, r, c);
    const T* plane_grad = grad_output + p * cells;
    T sum = T(0);
    for (int y = cells_of_me.y_begin; y < cells_of_me.y_end; ++y) {
      const AxisWindow rows = axis_window(y, w.stride_h, w.pad_h, w.kernel_h, w.in_h);
      for (int x = cells_of_me.x_begin; x < cells_of_me.x_end; ++x) {
        const AxisWindow cols = axis_window(x, w.stride_w, w.pad_w, w.kernel_w, w.in_w);
        const int divisor = average_divisor(rows, cols, count_include_pad);
        if (divisor > 0) sum += plane_grad[y * w.out_w + x] / T(divisor);
      }
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
  template void avg_pool2d_forward<T>(const cpu::PoolGeometry&, bool, const T*, T*);            \
  template void avg_pool2d_backward<T>(const cpu::PoolGeometry&, bool, const T*, T*);           \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,     \
                                               const T*, T*);                                   \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,    \
                                                const T*, T*);
SALIENCY_INSTANTIATE_CUDA_POOLING(float)
SALIENCY_INSTANTIATE_CUDA_POOLING(double)

}  // namespace saliency::kernels::cuda
