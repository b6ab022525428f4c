#include "kernels/cpu/conv2d_implicit.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

#if defined(__AVX512F__)

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

// A C tile is kRows output channels by kVectors * 16 flat positions: 24 accumulators, 3 vector
// loads of B and 8 broadcasts of A per 24 FMAs. It measured 99% of one core's FMA peak with
// its operands in L1, ahead of 12 x 32 and 6 x 64 once A is read in place (unpacked).
constexpr int kRows = 8;
constexpr int kVectors = 3;
constexpr int64_t kTileWidth = 16 * kVectors;
// Blocking: k runs in slices of about kDepth (28 channels x 9 taps for a 3x3 layer: one tile
// column's B is then a few rows of 28 padded planes, which stay in L1); a task is kBlockRows x
// kBlockWidth of C, and its A slice (64 KB) stays in L2.
constexpr int64_t kDepth = 256;
constexpr int64_t kBlockRows = 64;
constexpr int64_t kBlockWidth = 8 * kTileWidth;

// C[m x n] (row stride ldc) = A B, k running over (outer, tap) pairs with taps fastest:
//   A(i, o, t) = a[i * a_row + o * a_outer + a_tap[t]]
//   B(o, t, j) = b[o * b_outer + b_tap[t] + j]
struct ImplicitGemm {
  int64_t m, n, outers, taps;
  const float* a;
  int64_t a_row, a_outer;
  const int64_t* a_tap;
  const float* b;
  int64_t b_outer;
  const int64_t* b_tap;
  float* c;
  int64_t ldc;
};

// How a tile reads its operands over one k slice, `o` counting outers from the slice's start:
// A(i, o, t) = data[i * row + o * outer + tap[t]] and B(o, t, j) = data[o * outer + tap[t] + j]
// (B's `row` is unused: its columns are contiguous).
struct View {
  const float* data;
  int64_t row, outer;
  const int64_t* tap;
};

// One Rows x (Vectors * 16) tile of C at `c` over a k slice of `outers` x `taps`: written when
// `accumulate` is false, added to otherwise. `last` masks the final vector's columns (loads
// past it are suppressed, so the tile may end anywhere).
template <int Rows, int Vectors>
void tile(int64_t outers, int64_t taps, View a, View b, float* c, int64_t ldc, __mmask16 last,
          bool accumulate) {
  __m512 acc[Rows][Vectors];
#pragma GCC unroll 8
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < Vectors; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t o = 0; o < outers; ++o) {
    const float* a_outer = a.data + o * a.outer;
    const float* b_outer = b.data + o * b.outer;
    for (int64_t t = 0; t < taps; ++t) {
      const float* a_tap = a_outer + a.tap[t];
      const float* b_tap = b_outer + b.tap[t];
      __m512 columns[Vectors];
#pragma GCC unroll 3
      for (int v = 0; v < Vectors; ++v)
        columns[v] = v + 1 == Vectors ? _mm512_maskz_loadu_ps(last, b_tap + 16 * v)
                                      : _mm512_loadu_ps(b_tap + 16 * v);
#pragma GCC unroll 8
      for (int i = 0; i < Rows; ++i) {
        const __m512 weight = _mm512_set1_ps(a_tap[i * a.row]);
#pragma GCC unroll 3
        for (int v = 0; v < Vectors; ++v)
          acc[i][v] = _mm512_fmadd_ps(weight, columns[v], acc[i][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Rows; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 3
    for (int v = 0; v < Vectors; ++v) {
      const __mmask16 mask = v + 1 == Vectors ? last : __mmask16(0xFFFF);
      __m512 value = acc[i][v];
      if (accumulate) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, row + 16 * v));
      _mm512_mask_storeu_ps(row + 16 * v, mask, value);
    }
  }
}

using TileFunction = void (*)(int64_t, int64_t, View, View, float*, int64_t, __mmask16, bool);

// kTiles[rows - 1][vectors - 1]: full tiles and every edge shape.
template <size_t... R, size_t... V>
constexpr auto make_tiles(std::index_sequence<R...>, std::index_sequence<V...>) {
  auto row = [](auto rows) {
    return std::array<TileFunction, kVectors>{&tile<int(decltype(rows)::value) + 1, int(V) + 1>...};
  };
  return std::array<std::array<TileFunction, kVectors>, kRows>{
      row(std::integral_constant<size_t, R>{})...};
}
constexpr auto kTiles =
    make_tiles(std::make_index_sequence<kRows>{}, std::make_index_sequence<kVectors>{});

// One task: a block of C, every k slice in order, tiles column by column so that one tile
// column's slice of B (a few rows of each padded plane) is reused from L1 by all the block's
// rows. A is read in place: each tile's rows are contiguous runs of the weights. (Packing A
// into an L1 panel per row block and sweeping the columns under it measured slower: B's slice
// of a whole block then no longer fits the cache.)
void run_block(const ImplicitGemm& g, int64_t i_begin, int64_t i_end, int64_t j_begin,
               int64_t j_end) {
  const int64_t slice = std::max<int64_t>(1, kDepth / g.taps);
  for (int64_t o0 = 0; o0 < g.outers; o0 += slice) {
    const int64_t outers = std::min(g.outers, o0 + slice) - o0;
    for (int64_t j = j_begin; j < j_end; j += kTileWidth) {
      const int64_t width = std::min(kTileWidth, j_end - j);
      const int64_t vectors = (width + 15) / 16, tail = width - 16 * (vectors - 1);
      const auto last = static_cast<__mmask16>((1u << tail) - 1);
      const View b{g.b + o0 * g.b_outer + j, 0, g.b_outer, g.b_tap};
      for (int64_t i = i_begin; i < i_end; i += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, i_end - i);
        const View a{g.a + i * g.a_row + o0 * g.a_outer, g.a_row, g.a_outer, g.a_tap};
        kTiles[rows - 1][vectors - 1](outers, g.taps, a, b, g.c + i * g.ldc + j, g.ldc, last,
                                      o0 > 0);
      }
    }
  }
}

// Tasks are blocks of C shared out over the threads. With enough columns for every thread,
// a task takes all rows of its columns; otherwise rows are split too, so that narrow layers
// (7 x 7 maps) still keep both cores busy.
void run(const ImplicitGemm& g) {
  const int64_t column_blocks = (g.n + kBlockWidth - 1) / kBlockWidth;
  const int64_t block_rows = column_blocks >= 4 ? g.m : kBlockRows;
  const int64_t row_blocks = (g.m + block_rows - 1) / block_rows;
  parallel_tasks(row_blocks * column_blocks, [&](int64_t task) {
    const int64_t i = task / column_blocks * block_rows, j = task % column_blocks * kBlockWidth;
    run_block(g, i, std::min(g.m, i + block_rows), j, std::min(g.n, j + kBlockWidth));
  });
}

// A [channels, height, width] image split by phase for a correlation with strides (sh, sw):
// plane (a, b) of channel c holds image[c][sh * y + a - top][sw * x + b - left] at (y, x), zero
// outside the image, each plane rows x columns. In phase planes a strided correlation reads
// every tap as a contiguous run again: tap (ky, kx) sits in plane (ky % sh, kx % sw) shifted by
// (ky / sh, kx / sw). With stride 1 there is one plane per channel: the zero-padded image.
struct PhasePlanes {
  int64_t channels, height, width, top, left, stride_h, stride_w, rows, columns;
  int64_t plane() const { return rows * columns; }
  int64_t channel() const { return stride_h * stride_w * plane(); }
  // Offset of image position (phase a, b) + (dy, dx) within a channel's planes.
  int64_t offset(int64_t a, int64_t b, int64_t dy, int64_t dx) const {
    return (a * stride_w + b) * plane() + dy * columns + dx;
  }
};

void split_phases(const PhasePlanes& p, const float* image, float* planes) {
  parallel_for(0, p.channels, grain_for(p.channel()), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const float* in = image + c * p.height * p.width;
      for (int64_t a = 0; a < p.stride_h; ++a)
        for (int64_t b = 0; b < p.stride_w; ++b)
          for (int64_t y = 0; y < p.rows; ++y) {
            float* row = planes + c * p.channel() + p.offset(a, b, y, 0);
            const int64_t source_y = p.stride_h * y + a - p.top;
            if (source_y < 0 || source_y >= p.height) {
              std::fill_n(row, p.columns, 0.0f);
              continue;
            }
            const float* source = in + source_y * p.width;
            for (int64_t x = 0; x < p.columns; ++x) {
              const int64_t source_x = p.stride_w * x + b - p.left;
              row[x] = source_x >= 0 && source_x < p.width ? source[source_x] : 0.0f;
            }
          }
    }
  });
}

// Where a product's rows x columns block of positions goes in a [channels, height, width]
// image: position (r, q) of channel c -> (row0 + r * row_step, column0 + q * column_step).
struct Placement {
  int64_t height, width, rows, columns, row0, row_step, column0, column_step;
};

// Copies C (row c at c * ldc, position (r, q) at r * stride + q) into `image` as placed; a null
// product writes zeros there instead.
void scatter(int64_t channels, const float* product, int64_t ldc, int64_t stride,
             const Placement& at, float* image) {
  parallel_for(0, channels, grain_for(at.rows * at.columns), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c)
      for (int64_t r = 0; r < at.rows; ++r) {
        float* out = image + (c * at.height + at.row0 + r * at.row_step) * at.width + at.column0;
        const float* in = product == nullptr ? nullptr : product + c * ldc + r * stride;
        if (at.column_step == 1 && in != nullptr)
          std::copy_n(in, at.columns, out);
        else
          for (int64_t q = 0; q < at.columns; ++q)
            out[q * at.column_step] = in == nullptr ? 0.0f : in[q];
      }
  });
}

// Per image: the source image split into `planes`, then one GEMM over them whose C rows hold
// at.rows runs of planes.columns flat positions (the last one at.columns long), starting at
// flat offset `first` of each plane, and C scattered into the target as `at` places it. A, its
// tap table and B's tap table come filled in; `target_channels` is the GEMM's m.
void correlate(const Conv2dGeometry& g, ImplicitGemm gemm, const PhasePlanes& planes,
               const float* source, int64_t first, int64_t target_channels, const Placement& at,
               float* target) {
  const int64_t flat = (at.rows - 1) * planes.columns + at.columns;
  Scratch<float> split(planes.channels * planes.channel()), product(target_channels * flat);
  gemm.m = target_channels;
  gemm.n = flat;
  gemm.outers = planes.channels;
  gemm.b = split.data() + first;
  gemm.b_outer = planes.channel();
  gemm.c = product.data();
  gemm.ldc = flat;
  const int64_t source_size = planes.channels * planes.height * planes.width;
  const int64_t target_size = target_channels * at.height * at.width;
  for (int64_t image = 0; image < g.batch; ++image) {
    split_phases(planes, source + image * source_size, split.data());
    run(gemm);
    scatter(target_channels, product.data(), flat, planes.columns, at,
            target + image * target_size);
  }
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

bool switched_off() {
  static const bool off = [] {
    const char* choice = std::getenv("SALIENCY_CONV");
    return choice != nullptr && std::strcmp(choice, "im2col") == 0;
  }();
  return off;
}

}  // namespace

bool implicit_conv2d_supports(const Conv2dGeometry& g) {
  return g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 &&
         (g.kernel_h > 1 || g.kernel_w > 1) && g.pad_h < g.kernel_h && g.pad_w < g.kernel_w &&
         g.out_h() > 0 && g.out_w() > 0;
}

bool implicit_conv2d_applies(const Conv2dGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && implicit_conv2d_supports(g) && !switched_off();
}

void implicit_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             float* output) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  const PhasePlanes planes{g.in_channels,
                           g.in_h,
                           g.in_w,
                           g.pad_h,
                           g.pad_w,
                           g.stride_h,
                           g.stride_w,
                           ceil_div(g.in_h + 2 * g.pad_h, g.stride_h),
                           ceil_div(g.in_w + 2 * g.pad_w, g.stride_w)};
  const int64_t taps = g.kernel_h * g.kernel_w;
  std::vector<int64_t> a_tap(taps), b_tap(taps);
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t ky = t / g.kernel_w, kx = t % g.kernel_w;
    a_tap[t] = t;  // A(out channel, in channel, tap) = weight[out][in][tap]
    b_tap[t] = planes.offset(ky % g.stride_h, kx % g.stride_w, ky / g.stride_h, kx / g.stride_w);
  }
  ImplicitGemm gemm{};
  gemm.taps = taps;
  gemm.a = weight;
  gemm.a_row = g.in_channels * taps;
  gemm.a_outer = taps;
  gemm.a_tap = a_tap.data();
  gemm.b_tap = b_tap.data();
  const Placement at{g.out_h(), g.out_w(), g.out_h(), g.out_w(), 0, 1, 0, 1};
  correlate(g, gemm, planes, input, 0, g.out_channels, at, output);
}

void implicit_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  // Input position Y = sh * y + ky - pad receives weight[ky] * grad_output[y]. Split Y + pad by
  // phase a = (Y + pad) % sh, Y' = (Y + pad) / sh: the taps ky = a + sh * m reach it from
  // y = Y' - m, so each phase is a stride-1 correlation of the output gradient, padded by M - 1
  // (M of those taps per axis), with the phase's taps flipped. A(in channel, out channel, tap).
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t a = 0; a < g.stride_h; ++a) {
    for (int64_t b = 0; b < g.stride_w; ++b) {
      const int64_t first_y = ceil_div(g.pad_h - a, g.stride_h),
                    end_y = ceil_div(g.pad_h + g.in_h - a, g.stride_h);
      const int64_t first_x = ceil_div(g.pad_w - b, g.stride_w),
                    end_x = ceil_div(g.pad_w + g.in_w - b, g.stride_w);
      if (end_y <= first_y || end_x <= first_x) continue;
      const Placement at{g.in_h,
                         g.in_w,
                         end_y - first_y,
                         end_x - first_x,
                         g.stride_h * first_y + a - g.pad_h,
                         g.stride_h,
                         g.stride_w * first_x + b - g.pad_w,
                         g.stride_w};
      const int64_t taps_y = a < g.kernel_h ? ceil_div(g.kernel_h - a, g.stride_h) : 0;
      const int64_t taps_x = b < g.kernel_w ? ceil_div(g.kernel_w - b, g.stride_w) : 0;
      if (taps_y == 0 || taps_x == 0) {  // no tap reaches this phase: its gradient is zero
        for (int64_t image = 0; image < g.batch; ++image)
          scatter(g.in_channels, nullptr, 0, 0, at,
                  grad_input + image * g.in_channels * g.in_h * g.in_w);
        continue;
      }
      const PhasePlanes planes{g.out_channels,    g.out_h(), g.out_w(), taps_y - 1,
                               taps_x - 1,        1,         1,         end_y + taps_y - 1,
                               end_x + taps_x - 1};
      std::vector<int64_t> a_tap, b_tap;
      for (int64_t m = 0; m < taps_y; ++m)
        for (int64_t n = 0; n < taps_x; ++n) {
          a_tap.push_back((a + g.stride_h * m) * g.kernel_w + b + g.stride_w * n);
          b_tap.push_back(planes.offset(0, 0, taps_y - 1 - m, taps_x - 1 - n));
        }
      ImplicitGemm gemm{};
      gemm.taps = static_cast<int64_t>(a_tap.size());
      gemm.a = weight;
      gemm.a_row = taps;
      gemm.a_outer = g.in_channels * taps;
      gemm.a_tap = a_tap.data();
      gemm.b_tap = b_tap.data();
      correlate(g, gemm, planes, grad_output, planes.offset(0, 0, first_y, first_x), g.in_channels,
                at, grad_input);
    }
  }
}

}  // namespace saliency::kernels::cpu

#else  // no AVX-512: the im2col path serves every convolution

namespace saliency::kernels::cpu {

bool implicit_conv2d_supports(const Conv2dGeometry&) {
  return false;
}

bool implicit_conv2d_applies(const Conv2dGeometry&) {
  return false;
}

void implicit_conv2d_forward(const Conv2dGeometry&, const float*, const float*, float*) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512");
}

void implicit_conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512");
}

}  // namespace saliency::kernels::cpu

#endif
