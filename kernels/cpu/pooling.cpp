#include "kernels/cpu/pooling.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <type_traits>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/simd.h"  // (its intrinsics too, with AVX-512 or AVX2 + FMA)

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

namespace {

// One output cell of a max pool, scanning its window in row-major order: strictly greater
// wins, so the first of equal values keeps the gradient; NaN propagates (the last NaN wins).
// Relu: each value read as max(0, value) (NaN -> 0, as relu_forward), the pooling of a ReLU's
// output without the ReLU's pass.
template <bool Relu, typename T>
void max_pool_cell(const PoolGeometry& g, const T* plane, Window rows, Window cols, T* output,
                   int32_t* argmax) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t best_index = rows.begin * g.in_w + cols.begin;
  for (int64_t r = rows.begin; r < rows.end; ++r)
    for (int64_t c = cols.begin; c < cols.end; ++c) {
      T value = plane[r * g.in_w + c];
      if constexpr (Relu) value = value > T(0) ? value : T(0);
      if (value > best || value != value) {
        best = value;
        best_index = r * g.in_w + c;
      }
    }
  *output = best;
  *argmax = static_cast<int32_t>(best_index);
}

// The output cells whose windows lie inside the input along one axis: [begin, end).
struct Interior {
  int64_t begin, end;
};
Interior interior(int64_t stride, int64_t pad, int64_t kernel, int64_t size, int64_t out_size) {
  const int64_t begin = std::min((pad + stride - 1) / stride, out_size);
  const int64_t last = size - kernel + pad >= 0 ? (size - kernel + pad) / stride : -1;
  return {begin, std::clamp<int64_t>(last + 1, begin, out_size)};
}

#if defined(__AVX512F__)
// Window column c of row r for output cells x .. x + 15 (the lanes in `mask`; the others keep
// `fallback`): plane[index], index = r * in_w + stride_w * (x + lane) - pad_w + c. Stride 1 is
// one load; stride 2 (ResNet's stem pool) two loads whose even elements a permute collects, which
// ran the stem's 3x3/2 pool several times faster than a gather (slow on AMD cores); others gather.
__m512 window_column(const PoolGeometry& g, const float* plane, int64_t r, int64_t x, int64_t c,
                     __mmask16 mask, __m512i index, __m512 fallback) {
  const float* first = plane + r * g.in_w + g.stride_w * x - g.pad_w + c;
  if (g.stride_w == 1) return _mm512_mask_loadu_ps(fallback, mask, first);
  if (g.stride_w == 2) {
    const int cells = std::popcount(static_cast<unsigned>(mask));  // mask is a prefix
    const int elements = 2 * cells - 1;                            // first[0 .. 2 (cells - 1)]
    const auto low = static_cast<__mmask16>(elements >= 16 ? 0xFFFF : (1u << elements) - 1);
    const auto high = static_cast<__mmask16>(elements > 16 ? (1u << (elements - 16)) - 1 : 0);
    const __m512 value = simd::even_lanes(_mm512_maskz_loadu_ps(low, first),
                                          _mm512_maskz_loadu_ps(high, first + 16));
    return _mm512_mask_blend_ps(mask, fallback, value);
  }
  return _mm512_mask_i32gather_ps(fallback, mask, index, plane, 4);
}

// Output cells [x_begin, x_end) of row y, all inside the input: 16 cells at a time, the window
// read column by column in the scalar order (same winner, same NaN rule).
template <bool Relu>
void max_pool_interior_run(const PoolGeometry& g, const float* plane, int64_t y, int64_t x_begin,
                           int64_t x_end, float* output, int32_t* argmax) {
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const int64_t first_row = y * g.stride_h - g.pad_h;
  for (int64_t x = x_begin; x < x_end; x += 16) {
    const auto mask = static_cast<__mmask16>(x_end - x >= 16 ? 0xFFFF : (1u << (x_end - x)) - 1);
    const __m512i columns = _mm512_sub_epi32(
        _mm512_mullo_epi32(_mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(x)), lanes),
                           _mm512_set1_epi32(static_cast<int32_t>(g.stride_w))),
        _mm512_set1_epi32(static_cast<int32_t>(g.pad_w)));
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512i best_index =
        _mm512_add_epi32(columns, _mm512_set1_epi32(static_cast<int32_t>(first_row * g.in_w)));
    for (int64_t r = first_row; r < first_row + g.kernel_h; ++r) {
      const __m512i row =
          _mm512_add_epi32(columns, _mm512_set1_epi32(static_cast<int32_t>(r * g.in_w)));
      for (int64_t c = 0; c < g.kernel_w; ++c) {
        const __m512i index = _mm512_add_epi32(row, _mm512_set1_epi32(static_cast<int32_t>(c)));
        __m512 value = window_column(g, plane, r, x, c, mask, index, best);
        // max(x, 0) gives the second operand for NaN and -0: 0, as relu_forward (masked form:
        // GCC 12 warns on the unmasked one's header)
        if constexpr (Relu) value = _mm512_maskz_max_ps(0xFFFF, value, _mm512_setzero_ps());
        const __mmask16 take = _mm512_cmp_ps_mask(value, best, _CMP_GT_OQ) |
                               _mm512_cmp_ps_mask(value, value, _CMP_UNORD_Q);
        best = _mm512_mask_blend_ps(take, best, value);
        best_index = _mm512_mask_blend_epi32(take, best_index, index);
      }
    }
    _mm512_mask_storeu_ps(output + y * g.out_w() + x, mask, best);
    _mm512_mask_storeu_epi32(argmax + y * g.out_w() + x, mask, best_index);
  }
}
#elif defined(SALIENCY_SIMD)
// The AVX2 form of the two functions above, 8 cells at a time: lanes at and past `count` keep
// `fallback`. Stride 2 loads the 15 elements under 8 cells as two vectors and collects the even
// ones with a shuffle and a permute (the stem's pool; AVX2's gather is slower still on AMD). The
// scalar scan had taken 2-4% of a vanilla gradient or an IG run on an AVX2 host.
__m256 window_column(const PoolGeometry& g, const float* plane, int64_t r, int64_t x, int64_t c,
                     int count, __m256i index, __m256 fallback) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto first_lanes = [&](int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes); };
  const __m256 keep = _mm256_castsi256_ps(first_lanes(count));
  const float* first = plane + r * g.in_w + g.stride_w * x - g.pad_w + c;
  if (g.stride_w == 1)
    return _mm256_blendv_ps(fallback, _mm256_maskload_ps(first, first_lanes(count)), keep);
  if (g.stride_w == 2) {
    const int elements = 2 * count - 1;  // first[0 .. 2 (count - 1)]
    const __m256 low = _mm256_maskload_ps(first, first_lanes(elements));
    const __m256 high = _mm256_maskload_ps(first + 8, first_lanes(elements - 8));
    return _mm256_blendv_ps(fallback, simd::even_lanes(low, high), keep);
  }
  return _mm256_mask_i32gather_ps(fallback, plane, index, keep, 4);
}

template <bool Relu>
void max_pool_interior_run(const PoolGeometry& g, const float* plane, int64_t y, int64_t x_begin,
                           int64_t x_end, float* output, int32_t* argmax) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int64_t first_row = y * g.stride_h - g.pad_h;
  for (int64_t x = x_begin; x < x_end; x += 8) {
    const int count = static_cast<int>(std::min<int64_t>(8, x_end - x));
    const __m256i columns = _mm256_sub_epi32(
        _mm256_mullo_epi32(_mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(x)), lanes),
                           _mm256_set1_epi32(static_cast<int32_t>(g.stride_w))),
        _mm256_set1_epi32(static_cast<int32_t>(g.pad_w)));
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i best_index =
        _mm256_add_epi32(columns, _mm256_set1_epi32(static_cast<int32_t>(first_row * g.in_w)));
    for (int64_t r = first_row; r < first_row + g.kernel_h; ++r) {
      const __m256i row =
          _mm256_add_epi32(columns, _mm256_set1_epi32(static_cast<int32_t>(r * g.in_w)));
      for (int64_t c = 0; c < g.kernel_w; ++c) {
        const __m256i index = _mm256_add_epi32(row, _mm256_set1_epi32(static_cast<int32_t>(c)));
        __m256 value = window_column(g, plane, r, x, c, count, index, best);
        // max(x, 0) gives the second operand for NaN and -0: 0, as relu_forward
        if constexpr (Relu) value = _mm256_max_ps(value, _mm256_setzero_ps());
        const __m256 take = _mm256_or_ps(_mm256_cmp_ps(value, best, _CMP_GT_OQ),
                                         _mm256_cmp_ps(value, value, _CMP_UNORD_Q));
        best = _mm256_blendv_ps(best, value, take);
        best_index = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(best_index), _mm256_castsi256_ps(index), take));
      }
    }
    const __m256i store = _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes);
    _mm256_maskstore_ps(output + y * g.out_w() + x, store, best);
    _mm256_maskstore_epi32(argmax + y * g.out_w() + x, store, best_index);
  }
}
#else
template <bool Relu>
void max_pool_interior_run(const PoolGeometry& g, const float* plane, int64_t y, int64_t x_begin,
                           int64_t x_end, float* output, int32_t* argmax) {
  const Window rows = window(y, g.stride_h, g.pad_h, g.kernel_h, g.in_h);
  for (int64_t x = x_begin; x < x_end; ++x)
    max_pool_cell<Relu>(g, plane, rows, window(x, g.stride_w, g.pad_w, g.kernel_w, g.in_w),
                        output + y * g.out_w() + x, argmax + y * g.out_w() + x);
}
#endif

// Each output row fetches the input rows that the row kPoolRowsAhead on starts reading
// (crossing into the next plane this thread pools, if any). A batch's input comes from memory
// (the stem's output: 51 MB at batch 16), and its rows, 7 lines each, are too short for the
// hardware prefetchers: the stem's 3x3/2 pool at batch 16 took 0.73-0.79 ms per image against
// 0.22-0.29 with its input cached; fetching 4 rows ahead, 0.32 (2 threads, Zen 5).
// Not inlined: written into max_pool_plane's row loop, the same prefetches (or none) left the
// vector path 40% slower on a cached input (0.22 -> 0.31 ms at batch 1), from the loop's code
// alone.
constexpr int64_t kPoolRowsAhead = 4;

template <typename T>
[[gnu::noinline]] void fetch_pool_rows(const PoolGeometry& g, const T* plane, const T* next_plane,
                                       int64_t y) {
  const int64_t first = (y + kPoolRowsAhead) * g.stride_h - g.pad_h;
  for (int64_t r = std::max<int64_t>(first, 0); r < first + g.stride_h; ++r) {
    if (r < g.in_h)
      prefetch_run(plane + r * g.in_w, g.in_w * int64_t(sizeof(T)));
    else if (next_plane != nullptr && r - g.in_h < g.in_h)
      prefetch_run(next_plane + (r - g.in_h) * g.in_w, g.in_w * int64_t(sizeof(T)));
  }
}

// One plane: cells whose windows lie inside the input on the vector path (float; one at a time
// in a build without AVX-512 or AVX2), the rest (the border) one at a time. next_plane: the input
// plane this thread pools next, or null.
template <bool Relu, typename T>
void max_pool_plane(const PoolGeometry& g, const T* plane, const T* next_plane, T* output,
                    int32_t* argmax) {
  const int64_t out_h = g.out_h(), out_w = g.out_w();
  const Interior rows = interior(g.stride_h, g.pad_h, g.kernel_h, g.in_h, out_h);
  const Interior cols = interior(g.stride_w, g.pad_w, g.kernel_w, g.in_w, out_w);
  for (int64_t y = 0; y < out_h; ++y) {
    fetch_pool_rows(g, plane, next_plane, y);
    const Window row_window = window(y, g.stride_h, g.pad_h, g.kernel_h, g.in_h);
    const bool vector_row = std::is_same_v<T, float> && y >= rows.begin && y < rows.end;
    for (int64_t x = 0; x < out_w; ++x) {
      if constexpr (std::is_same_v<T, float>) {
        if (vector_row && x == cols.begin && cols.end > cols.begin) {
          max_pool_interior_run<Relu>(g, plane, y, cols.begin, cols.end, output, argmax);
          x = cols.end - 1;
          continue;
        }
      }
      max_pool_cell<Relu>(g, plane, row_window, window(x, g.stride_w, g.pad_w, g.kernel_w, g.in_w),
                          output + y * out_w + x, argmax + y * out_w + x);
    }
  }
}

template <bool Relu, typename T>
void max_pool_planes(const PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.planes, grain_for(in_plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p)
      max_pool_plane<Relu>(g, input + p * in_plane,
                           p + 1 < hi ? input + (p + 1) * in_plane : nullptr,
                           output + p * out_plane, argmax + p * out_plane);
  });
}

// Each winner's gradient added at its index, in output order; with relu_passed, only where it
// is > 0 there (NaN compares false: the gradient stops, as relu_backward's select).
template <typename T>
void scatter_to_winners(const PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                        const T* relu_passed, T* grad_input) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.planes, grain_for(g.in_h * g.in_w), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      T* plane = grad_input + p * in_plane;
      const int32_t* winners = argmax + p * out_plane;
      const T* gradient = grad_output + p * out_plane;
      std::fill_n(plane, in_plane, T(0));
      if (relu_passed == nullptr) {
        for (int64_t i = 0; i < out_plane; ++i) plane[winners[i]] += gradient[i];
        continue;
      }
      const T* passed = relu_passed + p * in_plane;
      for (int64_t i = 0; i < out_plane; ++i)
        if (passed[winners[i]] > T(0)) plane[winners[i]] += gradient[i];
    }
  });
}

}  // namespace

template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  max_pool_planes<false>(g, input, output, argmax);
}

template <typename T>
void max_pool2d_forward_of_relu(const PoolGeometry& g, const T* input, T* output, int32_t* argmax) {
  max_pool_planes<true>(g, input, output, argmax);
}

template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input) {
  scatter_to_winners<T>(g, grad_output, argmax, nullptr, grad_input);
}

template <typename T>
void max_pool2d_backward_through_relu(const PoolGeometry& g, const T* grad_output,
                                      const int32_t* argmax, const T* relu_passed, T* grad_input) {
  scatter_to_winners(g, grad_output, argmax, relu_passed, grad_input);
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

#define SALIENCY_INSTANTIATE_POOLING(T)                                                            \
  template void max_pool2d_forward<T>(const PoolGeometry&, const T*, T*, int32_t*);                \
  template void max_pool2d_backward<T>(const PoolGeometry&, const T*, const int32_t*, T*);         \
  template void max_pool2d_forward_of_relu<T>(const PoolGeometry&, const T*, T*, int32_t*);        \
  template void max_pool2d_backward_through_relu<T>(const PoolGeometry&, const T*, const int32_t*, \
                                                    const T*, T*);                                 \
  template void avg_pool2d_forward<T>(const PoolGeometry&, bool, const T*, T*);                    \
  template void avg_pool2d_backward<T>(const PoolGeometry&, bool, const T*, T*);                   \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,        \
                                               const T*, T*);                                      \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,       \
                                                const T*, T*);
SALIENCY_INSTANTIATE_POOLING(float)
SALIENCY_INSTANTIATE_POOLING(double)

}  // namespace saliency::kernels::cpu
