#include "kernels/cpu/conv2d_implicit.h"

#include "core/error.h"
#include "kernels/cpu/simd.h"

// Both kernels, the flat tiles and positions as rows, run on AVX-512 and AVX2 (simd.h).
#if defined(SALIENCY_SIMD)

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <utility>

#include "kernels/cpu/conv2d_plan.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

using simd::kLanes;
using simd::Lanes;
using simd::Vec;

// A C tile is kRows output channels by kVectors * kLanes flat positions: with AVX-512 8 x 3
// vectors of 16, 24 accumulators, 3 vector loads of B and 8 broadcasts of A per 24 FMAs. It
// measured 99% of one core's FMA peak with its operands in L1, ahead of 12 x 32 and 6 x 64 once A
// is read in place (unpacked). With AVX2 6 x 2 vectors of 8, 12 accumulators, as the packed
// GEMM's tile (gemm_packed.cpp).
constexpr int kRows = kLanes == 16 ? 8 : 6;
constexpr int kVectors = kLanes == 16 ? 3 : 2;
// Blocking: k runs in slices of about kDepth (28 channels x 9 taps for a 3x3 layer: one tile
// column's B is then a few rows of 28 padded planes, which stay in L1); a task is kBlockRows x
// kBlockTiles tile columns of C, and its A slice (64 KB) stays in L2.
constexpr int64_t kDepth = 256;
constexpr int64_t kBlockRows = 64;
constexpr int64_t kBlockTiles = 8;  // tile columns a block wide

// C[m x n] = A B, k running over (outer, tap) pairs with taps fastest:
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
  int64_t b_origin = 0;  // B(o, t, j) = b[o * b_outer + b_tap[t] + j - b_origin]
  const float* bias;     // per row of C, or null
  bool relu;             // max(0, value) as the last k slice is stored
};

// How a tile reads its operands over one k slice, `o` counting outers from the slice's start:
// A(i, o, t) = data[i * row + o * outer + tap[t]] and B(o, t, j) = data[o * outer + tap[t] + j]
// (B's `row` is unused: its columns are contiguous).
struct View {
  const float* data;
  int64_t row, outer;
  const int64_t* tap;
  // Optional, for B: memory the tile fetches into L2 as it goes, fetch_step bytes per outer (the
  // positions-as-rows kernel's weights for the slice after this one).
  const char* fetch = nullptr;
  int64_t fetch_step = 0;
};

// One Rows x (Vectors * kLanes) tile of C at `c` over a k slice of `outers` x `taps`: written when
// `accumulate` is false, added to otherwise; then finish[i] is added to row i when `finish` is
// given (the bias, on the last k slice: the same rounding as a separate pass, without the pass),
// then max(0, value) when `relu` is set (also only on the last k slice).
// `last` masks the final vector's columns (loads past it are suppressed, so the tile may end
// anywhere). Taps > 0 fixes the tap count at compile time so that the tap loop unrolls: a 3x3
// layer's nine taps then run without a loop counter, branch and tap-table walk between each 24 FMAs
// (ResNet-50's stride-1 3x3 layers, min of 15 alternating runs: 5-15% faster than the generic
// loop).
template <int Rows, int Vectors, int Taps>
void tile(int64_t outers, int64_t runtime_taps, View a, View b, float* c, int64_t ldc, Lanes last,
          bool accumulate, const float* finish, bool relu) {
  const int64_t taps = Taps > 0 ? Taps : runtime_taps;
  // AVX2's masked load takes a vector register, which a full tile has none to spare for: its
  // full last vectors load unmasked. (AVX-512's masks cost nothing.)
  const bool masked_last = kLanes == 16 || last != simd::kAllLanes;
  Vec acc[Rows][Vectors];
#pragma GCC unroll 8
  for (int i = 0; i < Rows; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < Vectors; ++v) acc[i][v] = simd::zero();
  for (int64_t o = 0; o < outers; ++o) {
    const float* a_outer = a.data + o * a.outer;
    const float* b_outer = b.data + o * b.outer;
    if (b.fetch != nullptr) prefetch_run_to_l2(b.fetch + o * b.fetch_step, b.fetch_step);
#pragma GCC unroll 9
    for (int64_t t = 0; t < taps; ++t) {
      const float* a_tap = a_outer + a.tap[t];
      const float* b_tap = b_outer + b.tap[t];
      const auto column = [&](int v) {
        return v + 1 == Vectors && masked_last ? simd::load_lanes(last, b_tap + kLanes * v)
                                               : simd::loadu(b_tap + kLanes * v);
      };
      // The shorter side's operands are held while the longer side's stream past them, one at
      // a time: 24 accumulators and all of the longer side's vectors would not fit 32 registers
      // (3 x 8 tiles spilled to the stack when their 8 columns were loaded first).
      if constexpr (Rows >= Vectors) {
        Vec columns[Vectors];
#pragma GCC unroll 8
        for (int v = 0; v < Vectors; ++v) columns[v] = column(v);
#pragma GCC unroll 8
        for (int i = 0; i < Rows; ++i) {
          const Vec weight = simd::broadcast(a_tap[i * a.row]);
#pragma GCC unroll 8
          for (int v = 0; v < Vectors; ++v) acc[i][v] = simd::fmadd(weight, columns[v], acc[i][v]);
        }
      } else {
        Vec weights[Rows];
#pragma GCC unroll 8
        for (int i = 0; i < Rows; ++i) weights[i] = simd::broadcast(a_tap[i * a.row]);
#pragma GCC unroll 8
        for (int v = 0; v < Vectors; ++v) {
          const Vec values = column(v);
#pragma GCC unroll 8
          for (int i = 0; i < Rows; ++i) acc[i][v] = simd::fmadd(weights[i], values, acc[i][v]);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < Rows; ++i) {
    float* row = c + i * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < Vectors; ++v) {
      const Lanes mask = v + 1 == Vectors ? last : simd::kAllLanes;
      Vec value = acc[i][v];
      if (accumulate) value = simd::add(value, simd::load_lanes(mask, row + kLanes * v));
      if (finish != nullptr) value = simd::add(value, simd::broadcast(finish[i]));
      if (relu) value = simd::relu(value);  // NaN and -0 -> 0, as relu_forward's select
      simd::store_lanes(row + kLanes * v, mask, value);
    }
  }
}

using TileFunction = void (*)(int64_t, int64_t, View, View, float*, int64_t, Lanes, bool,
                              const float*, bool);

// Tiles<Taps, MaxRows, MaxVectors>[rows - 1][vectors - 1]: full tiles and every edge shape.
template <int Taps, int MaxRows, int MaxVectors>
using TileTable = std::array<std::array<TileFunction, MaxVectors>, MaxRows>;
template <int Taps, int MaxRows, int MaxVectors, size_t... R, size_t... V>
constexpr auto make_tiles(std::index_sequence<R...>, std::index_sequence<V...>) {
  auto row = [](auto rows) {
    return std::array<TileFunction, MaxVectors>{
        &tile<int(decltype(rows)::value) + 1, int(V) + 1, Taps>...};
  };
  return TileTable<Taps, MaxRows, MaxVectors>{row(std::integral_constant<size_t, R>{})...};
}
template <int Taps, int MaxRows, int MaxVectors>
constexpr auto kTiles = make_tiles<Taps, MaxRows, MaxVectors>(
    std::make_index_sequence<MaxRows>{}, std::make_index_sequence<MaxVectors>{});

// Products with at most kFewRows rows (the backward of an image stem: 3 input channels) take
// tiles of kFewRows x kFewVectors instead, again 24 accumulators (12 with AVX2), rather than a
// 3 x 3 edge of the 8 x 3 tile (9 accumulators, 6 loads per 9 FMAs). The stem's backward
// (bench_conv2d, medians of 3 in 3 interleaved rounds, ms, batch 1 / 8): im2col 0.840 / 7.72, 3 x 3
// tiles 0.886 / 7.51, 3 x 8 tiles 0.771 / 6.47.
constexpr int kFewRows = 3;
constexpr int kFewVectors = kLanes == 16 ? 8 : 4;

// The tile function for a rows x vectors tile of this product.
TileFunction tile_for(const ImplicitGemm& g, int64_t rows, int64_t vectors) {
  if (g.m <= kFewRows) return kTiles<0, kFewRows, kFewVectors>[rows - 1][vectors - 1];
  // 3x3 layers carry nearly all the work
  const auto& tiles = g.taps == 9 ? kTiles<9, kRows, kVectors> : kTiles<0, kRows, kVectors>;
  return tiles[rows - 1][vectors - 1];
}

int64_t tile_width(const ImplicitGemm& g) {
  return kLanes * (g.m <= kFewRows ? kFewVectors : kVectors);
}

// One task: a block of C, every k slice in order, tiles column by column so that one tile
// column's slice of B (a few rows of each padded plane) is reused from L1 by all the block's
// rows. A is read in place: each tile's rows are contiguous runs of the weights. (Packing A
// into an L1 panel per row block and sweeping the columns under it measured slower: B's slice
// of a whole block then no longer fits the cache.)
void run_block(const ImplicitGemm& g, int64_t i_begin, int64_t i_end, int64_t j_begin,
               int64_t j_end, float* c, int64_t ldc) {
  const int64_t slice = std::max<int64_t>(1, kDepth / g.taps), step = tile_width(g);
  for (int64_t o0 = 0; o0 < g.outers; o0 += slice) {
    const int64_t outers = std::min(g.outers, o0 + slice) - o0;
    for (int64_t j = j_begin; j < j_end; j += step) {
      const int64_t width = std::min(step, j_end - j);
      const int64_t vectors = (width + kLanes - 1) / kLanes, tail = width - kLanes * (vectors - 1);
      const Lanes last = simd::first_lanes(tail);
      const View b{g.b + o0 * g.b_outer + (j - g.b_origin), 0, g.b_outer, g.b_tap};
      for (int64_t i = i_begin; i < i_end; i += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, i_end - i);
        const View a{g.a + i * g.a_row + o0 * g.a_outer, g.a_row, g.a_outer, g.a_tap};
        const bool last_slice = o0 + slice >= g.outers;
        tile_for(g, rows, vectors)(
            outers, g.taps, a, b, c + (i - i_begin) * ldc + (j - j_begin), ldc, last, o0 > 0,
            last_slice && g.bias != nullptr ? g.bias + i : nullptr, last_slice && g.relu);
      }
    }
  }
}

// Tasks are blocks of C shared out over the threads. With enough columns for every thread,
// a task takes all rows of its columns; otherwise rows are split too, so that narrow layers
// (7 x 7 maps) still keep both cores busy.
//
// A task computes its block into scratch of its own (C(i, j) at (i - i_begin) * ldc + j -
// j_begin), then hands it to `finish(i_begin, i_end, j_begin, j_end, block, ldc)`, which copies
// it out while it is still in cache. (The whole product had been one array, 3.3 MB an image for
// the 7x7/2 stem, written to memory and read back by a pass of its own.)
int64_t block_width_of(const ImplicitGemm& g) {
  return kBlockTiles * tile_width(g);
}
int64_t column_blocks_of(const ImplicitGemm& g) {
  return (g.n + block_width_of(g) - 1) / block_width_of(g);
}
constexpr int64_t kMinColumnBlocks = 4;  // fewer: the tasks split rows too

// A source row into its plane row of a unit-stride plane: the row between zeros.
void copy_unit_stride_row(const PhasePlanes& p, const float* source, float* row) {
  const int64_t begin = std::clamp<int64_t>(p.left, 0, p.columns);
  const int64_t end = std::clamp<int64_t>(p.left + p.width, begin, p.columns);
  std::fill(row, row + begin, 0.0f);
  if (end > begin) std::copy_n(source + (begin - p.left), end - begin, row + begin);
  std::fill(row + end, row + p.columns, 0.0f);
}

// Plane rows [y_begin, y_end) of every channel of a unit-stride source, row after row:
// channel c's at band + c * (y_end - y_begin) * columns.
void split_unit_rows(const PhasePlanes& p, const float* image, int64_t y_begin, int64_t y_end,
                     float* band) {
  for (int64_t c = 0; c < p.channels; ++c)
    for (int64_t y = y_begin; y < y_end; ++y) {
      float* row = band + (c * (y_end - y_begin) + y - y_begin) * p.columns;
      const int64_t source_y = y - p.top;
      if (source_y < 0 || source_y >= p.height) {
        std::fill_n(row, p.columns, 0.0f);
        continue;
      }
      copy_unit_stride_row(p, image + (c * p.height + source_y) * p.width, row);
    }
}

// A stride-1 correlation's source, for tasks that split their own band of plane rows.
struct Band {
  const PhasePlanes* planes = nullptr;
  const float* image = nullptr;
  int64_t first = 0, last_tap = 0;  // the plan's first and its largest b_tap
};
template <typename Finish>
void run(const ImplicitGemm& g, const Finish& finish, const Band& band = {}) {
  const int64_t block_width = block_width_of(g), column_blocks = column_blocks_of(g);
  const int64_t block_rows = column_blocks >= kMinColumnBlocks ? g.m : kBlockRows;
  const int64_t row_blocks = (g.m + block_rows - 1) / block_rows;
  parallel_tasks(row_blocks * column_blocks, [&](int64_t task) {
    const int64_t i = task / column_blocks * block_rows, j = task % column_blocks * block_width;
    const int64_t i_end = std::min(g.m, i + block_rows), j_end = std::min(g.n, j + block_width);
    Scratch<float> block(block_rows * block_width);
    if (band.planes == nullptr) {
      run_block(g, i, i_end, j, j_end, block.data(), block_width);
    } else {
      const PhasePlanes& p = *band.planes;
      const int64_t r0 = (band.first + j) / p.columns;
      const int64_t r1 = std::min(p.rows, (band.first + j_end - 1 + band.last_tap) / p.columns + 1);
      Scratch<float> rows(p.channels * (r1 - r0) * p.columns);
      split_unit_rows(p, band.image, r0, r1, rows.data());
      ImplicitGemm local = g;
      local.b = rows.data();
      local.b_outer = (r1 - r0) * p.columns;
      local.b_origin = r0 * p.columns - band.first;
      run_block(local, i, i_end, j, j_end, block.data(), block_width);
    }
    finish(i, i_end, j, j_end, block.data(), block_width);
  });
}

// The source image into its phase planes (see conv2d_plan.h).
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
            // Unit stride: a run of the source row between zeros, copied rather than tested
            // element by element (bench_conv2d's stride-1 3x3 layers, medians of 3 in 3 rounds:
            // layer1 forward 0.580 -> 0.542 ms at batch 1, 4.68 -> 4.39 at batch 8, backward
            // 0.606 -> 0.561 and 4.84 -> 4.57; layer2 2-3% faster, layer3 the same).
            if (p.stride_w == 1) {
              copy_unit_stride_row(p, source, row);
              continue;
            }
            // Strided: the columns whose source lies inside the row, found once, then copied
            // without a test per element (the stem's split had taken 10% of its forward).
            const auto first_column = [&](int64_t source_x) {  // the first x reaching source_x
              return std::clamp<int64_t>((source_x - b + p.left + p.stride_w - 1) / p.stride_w, 0,
                                         p.columns);
            };
            const int64_t begin = first_column(0);
            const int64_t end = std::max(begin, first_column(p.width));
            std::fill(row, row + begin, 0.0f);
            const float* at = source + (p.stride_w * begin + b - p.left);
            if (p.stride_w == 2)
              simd::copy_even_elements(at, end - begin, row + begin);
            else
              for (int64_t x = 0; x < end - begin; ++x) row[begin + x] = at[p.stride_w * x];
            std::fill(row + end, row + p.columns, 0.0f);
          }
    }
  });
}

// Copies rows [c_begin, c_end) x flat columns [j_begin, j_end) of C, given as `block` (C(c, j) at
// (c - c_begin) * ldc + j - j_begin; flat column j is position (r, q) = (j / stride, j % stride),
// not placed when q >= at.columns) into `image` as placed; a null block (positions no tap
// reaches) counts as zeros. An addend (laid out as `image`) is added to each value copied; then,
// with a relu_mask (laid out the same way), a value lands only where the mask is > 0, 0
// elsewhere: a gradient accumulated and a ReLU's backward fused into the copy.
struct ScatterTo {
  const Placement& at;
  const float* relu_mask;
  const float* addend;
  float* image;
  // Plain copies bypass the caches: the batch's target reaches kStreamBytes (prefetch.h; the stem's
  // copy had spent its time at batch 8 reading each line in before writing it).
  bool stream = false;
};

// out[q] = in[q] for q < count, whole 64-byte lines of `out` with non-temporal stores (ordered
// for other threads by the sfence at the end of scatter_block).
void stream_copy(const float* in, int64_t count, float* out) {
  const auto misaligned = static_cast<int64_t>(reinterpret_cast<uintptr_t>(out) % 64 / 4);
  const int64_t head = std::min(count, (16 - misaligned) % 16);
  std::copy_n(in, head, out);
  int64_t q = head;
  for (; q + kLanes <= count; q += kLanes) simd::stream(out + q, simd::loadu(in + q));
  std::copy_n(in + q, count - q, out + q);
}

// out[2 q] = in[q] for q < count: the stride-2 placement of an image stem's input gradient (each
// of its four phases fills every other column). Eight values are spread over a vector's even
// lanes and stored under that mask, instead of one scalar store each.
void copy_to_even_columns(const float* in, int64_t count, float* out) {
  int64_t q = 0;
#if defined(__AVX512F__)
  for (; q + 8 <= count; q += 8)
    _mm512_mask_storeu_ps(
        out + 2 * q, 0x5555,
        _mm512_maskz_expand_ps(0x5555, _mm512_castps256_ps512(_mm256_loadu_ps(in + q))));
#endif
  for (; q < count; ++q) out[2 * q] = in[q];
}

void scatter_block(const float* block, int64_t ldc, int64_t stride, const ScatterTo& to,
                   int64_t c_begin, int64_t c_end, int64_t j_begin, int64_t j_end) {
  const Placement& at = to.at;
  const int64_t r_end = std::min(at.rows, (j_end + stride - 1) / stride);
  for (int64_t c = c_begin; c < c_end; ++c)
    for (int64_t r = j_begin / stride; r < r_end; ++r) {
      const int64_t q_begin = std::max<int64_t>(0, j_begin - r * stride);
      const int64_t q_end = std::min(at.columns, j_end - r * stride);
      if (q_end <= q_begin) continue;
      // Position (r, q_begin) and on: its place in the image and its value in the block.
      const int64_t offset = (c * at.height + at.row0 + r * at.row_step) * at.width + at.column0 +
                             q_begin * at.column_step;
      const int64_t count = q_end - q_begin, step = at.column_step;
      float* out = to.image + offset;
      const float* in = block == nullptr
                            ? nullptr
                            : block + (c - c_begin) * ldc + (r * stride + q_begin - j_begin);
      if (to.relu_mask != nullptr || to.addend != nullptr) {
        for (int64_t q = 0; q < count; ++q) {
          const int64_t at_q = offset + q * step;
          // (in is loaded unconditionally, so that the select vectorizes)
          float value = in == nullptr ? 0.0f : in[q];
          if (to.addend != nullptr) value = value + to.addend[at_q];
          out[q * step] = to.relu_mask == nullptr || to.relu_mask[at_q] > 0.0f ? value : 0.0f;
        }
      } else if (step == 1 && in != nullptr) {
        if (to.stream)
          stream_copy(in, count, out);
        else
          std::copy_n(in, count, out);
      } else if (step == 2 && in != nullptr) {
        copy_to_even_columns(in, count, out);
      } else {
        for (int64_t q = 0; q < count; ++q) out[q * step] = in == nullptr ? 0.0f : in[q];
      }
    }
  if (to.stream) _mm_sfence();
}

// Whether the GEMM's tasks split their own bands of plane rows (Band) rather than read planes
// split for the whole image in a pass of their own: for a single stride-1 correlation whose
// tasks are column blocks, with the threads sharing the image. Each task then reads only rows it
// wrote itself; with the shared split, half of every task's rows had come from the other core's
// cache through the last-level one, which the host's neighbours make slow at times.
// bench_conv2d, layer1's 3x3 at batch 1, alternating rounds (medians of 3, ms, forward /
// backward): 0.684-0.731 / 0.700-0.769 -> 0.611-0.651 / 0.585-0.671 in slow stretches,
// 0.514-0.527 / 0.515-0.524 either way in fast ones (the halo rows split twice cost nothing
// visible). Smaller blocks, to band layer2's 28 x 28 maps too: 12-15% faster there in slow
// stretches, 3-5% slower in fast ones; not taken.
bool splits_own_bands(std::span<const Correlation> plans, const ImplicitGemm& gemm) {
  const PhasePlanes& planes = plans.front().planes;
  return plans.size() == 1 && planes.stride_h == 1 && planes.stride_w == 1 && num_threads() > 1 &&
         !detail::inside_parallel_region() && column_blocks_of(gemm) >= kMinColumnBlocks;
}

// One image of planned correlations that read the same planes: the source split into its planes,
// then each plan's GEMM, whose tasks copy their blocks out (the planes are split here, once, unless
// every GEMM's tasks split their own bands).
void execute_image(std::span<const Correlation> plans, const float* weight, const float* bias,
                   bool relu, const float* mask, const float* added, const float* source,
                   float* target, bool stream) {
  const PhasePlanes& planes = plans.front().planes;
  std::optional<Scratch<float>> split;
  for (const Correlation& plan : plans) {
    const ScatterTo to{plan.at, mask, added, target, stream};
    if (plan.b_tap.empty()) {  // no tap reaches these positions: zeros (finished)
      parallel_for(0, plan.target_channels, grain_for(plan.at.rows * plan.at.columns),
                   [&](int64_t lo, int64_t hi) {
                     scatter_block(nullptr, 0, plan.at.columns, to, lo, hi, 0,
                                   plan.at.rows * plan.at.columns);
                   });
      continue;
    }
    const int64_t flat = plan.flat();
    ImplicitGemm gemm{.m = plan.target_channels,
                      .n = flat,
                      .outers = planes.channels,
                      .taps = static_cast<int64_t>(plan.b_tap.size()),
                      .a = weight,
                      .a_row = plan.a_row,
                      .a_outer = plan.a_outer,
                      .a_tap = plan.a_tap.data(),
                      .b = nullptr,  // the planes, below
                      .b_outer = planes.channel(),
                      .b_tap = plan.b_tap.data(),
                      .bias = bias,
                      .relu = relu};
    const auto place = [&](int64_t i_begin, int64_t i_end, int64_t j_begin, int64_t j_end,
                           const float* block, int64_t ldc) {
      scatter_block(block, ldc, planes.columns, to, i_begin, i_end, j_begin, j_end);
    };
    if (splits_own_bands(plans, gemm)) {
      run(gemm, place,
          {&planes, source, plan.first, *std::max_element(plan.b_tap.begin(), plan.b_tap.end())});
      continue;
    }
    if (!split) {
      split.emplace(planes.channels * planes.channel());
      split_phases(planes, source, split->data());
    }
    gemm.b = split->data() + plan.first;
    run(gemm, place);
  }
}

// Runs planned correlations over a batch, image by image (parallel_items: while at least one
// image is left for every thread, each thread takes whole images with scratch of its own; a 14 x
// 14 layer's image had been three parallel regions of a fraction of a millisecond each). Every
// image is computed by the same tiles in the same order either way. bench_conv2d at batch 8,
// medians of 3 in 3 interleaved rounds, ms: layer1's 3x3 forward 4.21-4.48 -> 3.99-4.11,
// layer3's 4.69-4.78 -> 4.49-4.55 (backward alike), layer2's 1-2% faster; IG-50 on the direct
// kernels 2412-2457 -> 2176-2227 ms while the host was contended, 1% faster while it was quiet.
void execute(int64_t batch, std::span<const Correlation> plans, const float* weight,
             const float* bias, bool relu, const float* relu_mask, const float* addend,
             const float* source, float* target) {
  const PhasePlanes& planes = plans.front().planes;
  const Correlation& any = plans.front();
  const int64_t source_size = planes.channels * planes.height * planes.width;
  const int64_t target_size = any.target_channels * any.at.height * any.at.width;
  const bool stream = batch * target_size * int64_t(sizeof(float)) >= kStreamBytes;
  parallel_items(batch, [&](int64_t image) {
    execute_image(plans, weight, bias, relu,
                  relu_mask == nullptr ? nullptr : relu_mask + image * target_size,
                  addend == nullptr ? nullptr : addend + image * target_size,
                  source + image * source_size, target + image * target_size, stream);
  });
}

// ---- Positions as rows --------------------------------------------------------------------------
//
// The same correlations with the GEMM turned around: C'[position][target channel] = B'^T A'^T.
// A tile is kPositionRows consecutive positions of one output row (rows of the tile, each value
// of the planes broadcast) by kPanel target channels (vectors of the weights, packed per layer:
// pack_position_rows_weight). The flat layout's thrown-away columns and lanes are gone: a row of
// 14 or 7 positions is two tiles or one, and ResNet's channel counts are multiples of 64. A
// strided layer's taps are contiguous runs of its phase planes here too, so it needs no im2col.
// One core, ResNet-50's 3x3 layers at batch 1, operands from L2 (a prototype of this loop):
// 88-95% of the FMA peak against the flat tiles' 71-81% (stride 1) and 64-69% (stride 2). See
// conv2d_implicit.h for where it runs.
// With AVX2's 16 registers 4 positions by 3 vectors of 8 channels (12 accumulators, the 3
// vectors held, one broadcast): bench_conv2d, min of 3 interleaved rounds of medians on a Zen 3
// (ms, batch 1 with weights from memory / batch 8 forward), against the flat tiles or im2col:
// layer3's 3x3 1.86 / 14.4 -> 1.54 / 12.2, layer4's 2.38 / 16.1 -> 1.51 / 11.5 (backward alike);
// 6 x 2 vectors 1.70 / 13.2 and 2.01 / 15.2, 7 x 1 2.62 / 20.3 and 2.53 / 20.9, 7 x 2 (one
// register short) 2.27 / 17.9 and 2.29 / 18.0.
constexpr int kPositionRows = kLanes == 16 ? 7 : 4;
constexpr int kChannelVectors = kLanes == 16 ? 4 : 3;
constexpr int64_t kPanel = kLanes * kChannelVectors;
// k steps per slice: a slice of a panel's weights is 288 KB, read from L2 by every tile of the
// task's band. Slices of 28 channels (the flat tiles' 252 steps) measured 10% slower: the band's
// partial sums are loaded and stored once per slice.
constexpr int64_t kPositionRowsDepth = 1152;
constexpr int64_t kBandPositions = 112;  // a task's output positions, whole rows, at least one

// Source channels per k slice.
int64_t slice_of(int64_t taps) {
  return std::max<int64_t>(1, kPositionRowsDepth / taps);
}

int64_t panels_of(int64_t channels) {
  return (channels + kPanel - 1) / kPanel;
}

int64_t packed_plan_size(const Correlation& plan) {
  return panels_of(plan.target_channels) * kPanel * plan.planes.channels *
         static_cast<int64_t>(plan.a_tap.size());
}

// packed[panel][outer o][tap t][lane] = A(panel * kPanel + lane, o, t), zero past the last target
// channel: a k step's kPanel weights are one run of 256 bytes.
void pack_plan(const Correlation& plan, const float* weight, float* packed) {
  const int64_t taps = static_cast<int64_t>(plan.a_tap.size()), outers = plan.planes.channels;
  parallel_for(0, panels_of(plan.target_channels) * outers, grain_for(taps * kPanel),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t at = lo; at < hi; ++at) {
                   const int64_t panel = at / outers, o = at % outers;
                   float* to = packed + at * taps * kPanel;
                   for (int64_t t = 0; t < taps; ++t)
                     for (int64_t lane = 0; lane < kPanel; ++lane) {
                       const int64_t i = panel * kPanel + lane;
                       to[t * kPanel + lane] =
                           i < plan.target_channels
                               ? weight[i * plan.a_row + o * plan.a_outer + plan.a_tap[t]]
                               : 0.0f;
                     }
                 }
               });
}

TileFunction position_tile_for(int64_t taps, int64_t rows, int64_t vectors) {
  const auto& tiles = taps == 9 ? kTiles<9, kPositionRows, kChannelVectors>
                                : kTiles<0, kPositionRows, kChannelVectors>;
  return tiles[rows - 1][vectors - 1];
}

// Memory to fetch into L2 while a task runs its last slice: the first slice of the task its
// thread likely takes next.
struct Run {
  const char* data = nullptr;
  int64_t bytes = 0;
};

// Output rows [r_begin, r_end) of one panel: every k slice into `block` (position (r, q) at
// ((r - r_begin) * width + q) * kPanel), slice after slice over all the band's tiles.
//
// Each slice's weights are read by the band's first tile, then from L2 by the rest. At batch 1
// they come from memory, and the first tile would wait for all of them at once (layer4's 3x3 with
// weights from memory: 0.72-0.78 ms against 0.54 cached); so every tile fetches its share of the
// next slice (the next task's first, during the last) a few lines per outer step.
void run_position_rows(const Correlation& plan, const float* planes, const float* panel_weights,
                       int64_t lanes, int64_t r_begin, int64_t r_end, Run after, float* block) {
  const PhasePlanes& p = plan.planes;
  const int64_t taps = static_cast<int64_t>(plan.b_tap.size()), width = plan.at.columns;
  const int64_t slice = slice_of(taps);
  const int64_t vectors = (lanes + kLanes - 1) / kLanes, tail = lanes - kLanes * (vectors - 1);
  const Lanes last = simd::first_lanes(tail);
  std::array<int64_t, 64> packed_tap{};
  SALIENCY_ASSERT(taps <= 64, "implicit conv2d: more than 64 taps per plan");
  for (int64_t t = 0; t < taps; ++t) packed_tap[t] = t * kPanel;
  const int64_t tiles = (r_end - r_begin) * ((width + kPositionRows - 1) / kPositionRows);
  for (int64_t o0 = 0; o0 < p.channels; o0 += slice) {
    const int64_t outers = std::min(p.channels, o0 + slice) - o0;
    View b{panel_weights + o0 * taps * kPanel, 0, taps * kPanel, packed_tap.data()};
    Run next = after;
    if (o0 + outers < p.channels)
      next = {reinterpret_cast<const char*>(b.data + outers * taps * kPanel),
              int64_t(sizeof(float)) * std::min(slice, p.channels - o0 - outers) * taps * kPanel};
    // A tile's share, in whole lines, spread over its outer steps.
    const int64_t share = (next.bytes / 64 + tiles - 1) / tiles * 64;
    b.fetch_step = (share / 64 + outers - 1) / outers * 64;
    int64_t tile_index = 0;
    for (int64_t r = r_begin; r < r_end; ++r)
      for (int64_t q = 0; q < width; q += kPositionRows, ++tile_index) {
        const int64_t rows = std::min<int64_t>(kPositionRows, width - q);
        b.fetch = next.data != nullptr && tile_index * share < next.bytes
                      ? next.data + tile_index * share
                      : nullptr;
        const View a{planes + plan.first + r * p.columns + q + o0 * p.channel(), 1, p.channel(),
                     plan.b_tap.data()};
        position_tile_for(taps, rows, vectors)(outers, taps, a, b,
                                               block + ((r - r_begin) * width + q) * kPanel, kPanel,
                                               last, o0 > 0, nullptr, false);
      }
  }
}

// For targets placed otherwise (a strided backward's phases, every other column): the band's
// block turned channel-major, as the flat tiles leave theirs (channel i's position (r, q) at
// i * ldc + (r - r_begin) * columns + q), for scatter_block to place (with the addend and mask).
void transpose_position_rows(const float* block, int64_t width, int64_t rows, int64_t lanes,
                             int64_t columns, float* out, int64_t ldc) {
#if defined(__AVX512F__)
  const __m512i lane_stride =
      _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                         _mm512_set1_epi32(static_cast<int>(kPanel)));
  for (int64_t i = 0; i < lanes; ++i) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < width; q += 16) {
        const auto mask =
            static_cast<__mmask16>(width - q >= 16 ? 0xFFFF : (1u << (width - q)) - 1);
        const __m512 value = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, lane_stride,
                                                      block + (r * width + q) * kPanel + i, 4);
        _mm512_mask_storeu_ps(out + i * ldc + r * columns + q, mask, value);
      }
  }
#else  // AVX2: a plain copy (its dispatcher keeps strided backwards on im2col; tests run this)
  for (int64_t i = 0; i < lanes; ++i)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t q = 0; q < width; ++q)
        out[i * ldc + r * columns + q] = block[(r * width + q) * kPanel + i];
#endif
}

// Where kLanes consecutive positions of a band land in a target plane of rows `width` apart: a
// run per band row they touch (four for rows of 7 and 16 lanes), each a lane mask and the address
// lane 0 would have.
struct Runs {
  int count = 0;
  std::array<Lanes, kLanes> mask;
  std::array<int64_t, kLanes> origin;
};
Runs runs_of(int64_t first, int64_t positions, int64_t band_width, int64_t row0, int64_t width) {
  Runs runs;
  const int64_t end = std::min(positions, first + kLanes);
  for (int64_t p = first; p < end;) {
    const int64_t r = p / band_width, stop = std::min(end, (r + 1) * band_width);
    const auto lanes = static_cast<uint32_t>(((1u << (stop - p)) - 1) << (p - first));
    runs.mask[runs.count] = static_cast<Lanes>(lanes);
    runs.origin[runs.count++] = (row0 + r) * width + (first - r * band_width);
    p = stop;
  }
  return runs;
}

// The band's block stored straight into a target placed as is (a forward's output, a stride-1
// backward's input gradient), 16 positions by 16 channels at a time through a transpose in
// registers, with the bias and ReLU, or the addend and ReLU mask, applied on the way: the same
// values as transpose_position_rows and scatter_block (the sum finished, then each step).
void store_position_rows(const float* block, int64_t band_width, int64_t rows, int64_t lanes,
                         const float* bias, bool relu, const ScatterTo& to, int64_t channel0,
                         int64_t row0) {
  const int64_t width = to.at.width, plane = to.at.height * width, positions = rows * band_width;
  for (int64_t first = 0; first < positions; first += kLanes) {
    const Runs runs = runs_of(first, positions, band_width, row0, width);
    for (int64_t l0 = 0; l0 < lanes; l0 += kLanes) {
      Vec v[kLanes];
      for (int k = 0; k < kLanes; ++k)
        v[k] =
            first + k < positions ? simd::loadu(block + (first + k) * kPanel + l0) : simd::zero();
      simd::transpose(v);
      for (int64_t c = 0; c < std::min<int64_t>(kLanes, lanes - l0); ++c) {
        const int64_t channel = channel0 + l0 + c;
        Vec value = v[c];
        if (bias != nullptr) value = simd::add(value, simd::broadcast(bias[l0 + c]));
        if (relu) value = simd::relu(value);  // NaN and -0 -> 0, as relu_forward
        for (int run = 0; run < runs.count; ++run) {
          const int64_t at = channel * plane + runs.origin[run];
          const Lanes mask = runs.mask[run];
          Vec stored = value;
          if (to.addend != nullptr)
            stored = simd::add(stored, simd::load_lanes(mask, to.addend + at));
          if (to.relu_mask != nullptr)
            stored = simd::keep_where_positive(simd::load_lanes(mask, to.relu_mask + at), stored);
          simd::store_lanes(to.image + at, mask, stored);
        }
      }
    }
  }
}

// One image of one plan: tasks are (panel, band of output rows), each computed into scratch of
// its own and stored while it is in cache (store_position_rows, or through a channel-major copy
// and scatter_block for a strided backward's phases).
void execute_position_rows_image(const Correlation& plan, const float* planes, const float* packed,
                                 const float* bias, bool relu, const ScatterTo& to) {
  const int64_t width = plan.at.columns, height = plan.at.rows, columns = plan.planes.columns;
  const int64_t band = std::clamp<int64_t>((kBandPositions + width - 1) / width, 1, height);
  const int64_t bands = (height + band - 1) / band, panels = panels_of(plan.target_channels);
  const int64_t taps = static_cast<int64_t>(plan.b_tap.size());
  const int64_t panel_size = plan.planes.channels * taps * kPanel;
  const int64_t first_slice =
      std::min(plan.planes.channels, slice_of(taps)) * taps * kPanel * int64_t(sizeof(float));
  // Tasks run in order on one thread inside a region (a batch's whole images), else in turn.
  const int64_t next_task = detail::inside_parallel_region() ? 1 : num_threads();
  parallel_tasks(panels * bands, [&](int64_t task) {
    const int64_t panel = task / bands, r0 = task % bands * band, r1 = std::min(height, r0 + band);
    const int64_t i0 = panel * kPanel, lanes = std::min(kPanel, plan.target_channels - i0);
    Run after;
    if (task + next_task < panels * bands)
      after = {reinterpret_cast<const char*>(packed + (task + next_task) / bands * panel_size),
               first_slice};
    Scratch<float> block((r1 - r0) * width * kPanel);
    run_position_rows(plan, planes, packed + panel * panel_size, lanes, r0, r1, after,
                      block.data());
    const Placement& at = plan.at;
    if (at.row0 == 0 && at.row_step == 1 && at.column0 == 0 && at.column_step == 1) {
      store_position_rows(block.data(), width, r1 - r0, lanes,
                          bias == nullptr ? nullptr : bias + i0, relu, to, i0, r0);
      return;
    }
    SALIENCY_ASSERT(bias == nullptr && !relu, "positions-as-rows conv2d: a forward placed apart");
    const int64_t j_begin = r0 * columns, j_end = (r1 - 1) * columns + width;
    Scratch<float> channels(lanes * (j_end - j_begin));
    transpose_position_rows(block.data(), width, r1 - r0, lanes, columns, channels.data(),
                            j_end - j_begin);
    scatter_block(channels.data(), j_end - j_begin, columns, to, i0, i0 + lanes, j_begin, j_end);
  });
}

// execute's counterpart: the plans' packed weights one after another in `packed`.
void execute_position_rows(int64_t batch, std::span<const Correlation> plans, const float* packed,
                           const float* bias, bool relu, const float* relu_mask,
                           const float* addend, const float* source, float* target) {
  const PhasePlanes& planes = plans.front().planes;
  const Correlation& any = plans.front();
  const int64_t source_size = planes.channels * planes.height * planes.width;
  const int64_t target_size = any.target_channels * any.at.height * any.at.width;
  const bool stream = batch * target_size * int64_t(sizeof(float)) >= kStreamBytes;
  parallel_items(batch, [&](int64_t image) {
    const ScatterTo to{any.at, relu_mask == nullptr ? nullptr : relu_mask + image * target_size,
                       addend == nullptr ? nullptr : addend + image * target_size,
                       target + image * target_size, stream};
    Scratch<float> split(planes.channels * planes.channel());
    split_phases(planes, source + image * source_size, split.data());
    const float* weights = packed;
    for (const Correlation& plan : plans) {
      const ScatterTo placed{plan.at, to.relu_mask, to.addend, to.image, stream};
      if (plan.b_tap.empty()) {
        scatter_block(nullptr, 0, plan.at.columns, placed, 0, plan.target_channels, 0,
                      plan.at.rows * plan.at.columns);
        continue;
      }
      execute_position_rows_image(plan, split.data(), weights, bias, relu, placed);
      weights += packed_plan_size(plan);
    }
  });
}

}  // namespace

bool implicit_conv2d_supports(const Conv2dGeometry& g) {
  return g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 &&
         (g.kernel_h > 1 || g.kernel_w > 1) && g.pad_h < g.kernel_h && g.pad_w < g.kernel_w &&
         g.out_h() > 0 && g.out_w() > 0;
}

bool implicit_conv2d_applies(const Conv2dGeometry& g) {
  constexpr int64_t kStemChannels = 4;  // see the header: of strided layers, image stems only
  constexpr int64_t kSmallMap = 64;     // see the header: smaller output maps go to im2col
  const bool stride_one = g.stride_h == 1 && g.stride_w == 1;
  const bool taken =
      stride_one ? g.out_h() * g.out_w() >= kSmallMap : g.in_channels <= kStemChannels;
  return taken && implicit_conv2d_supports(g) &&
         requested_conv_algorithm() != ConvAlgorithmChoice::im2col;
}

void implicit_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             const float* bias, float* output, bool relu) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  const Correlation plan = forward_correlation(g);
  execute(g.batch, {&plan, 1}, weight, bias, relu, nullptr, nullptr, input, output);
}

void implicit_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input, const float* relu_mask,
                                    const float* addend) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  const std::vector<Correlation> plans = backward_input_correlations(g);
  SALIENCY_ASSERT(!plans.empty(), "implicit conv2d: no input phase");
  execute(g.batch, plans, weight, nullptr, false, relu_mask, addend, grad_output, grad_input);
}

bool position_rows_conv2d_applies(const Conv2dGeometry& g, ConvPass pass) {
  // A panel is 64 target channels (24 with AVX2): fewer (an image stem's backward: 3) would leave
  // it mostly empty. With AVX-512, rows of the pass's targets (a stride phase's, backward) wider
  // than 16 positions fill the flat tiles' vectors well: see the header.
  constexpr int64_t kMinTargetChannels = 32;
  constexpr int64_t kMaxRowWidth = 16;
  // With AVX2 the flat tiles (6 x 16) run further from the FMA peak than 4 x 24 positions, and
  // stride-1 layers take positions as rows up to ResNet's widest 3x3 rows (56). bench_conv2d on a
  // Zen 3 (2 threads, min of 4-5 interleaved rounds, ms, forward / backward): layer1's 3x3 at
  // batch 1 1.76 / 1.77 -> 1.60 / 1.62, at batch 8 14.2 / 14.6 -> 13.0 / 13.5; layer2's at batch
  // 1 1.80 / 1.71 -> 1.56 / 1.57, at batch 8 13.6 / 13.6 -> 13.1 / 12.7. (layer2's 3x3/2 forward,
  // 28 wide, 1.86 / 14.6 -> 1.88 / 15.2: left on the flat tiles.)
  constexpr int64_t kMaxUnitStrideRowWidthAvx2 = 56;
  const bool forward = pass == ConvPass::forward;
  // With AVX2 a strided layer's backward (its phases stored through a channel-major copy) stays
  // on im2col: min of 5 interleaved rounds, layer3's and layer4's 3x3/2 backward ran 1-17% slower
  // this way (their forward 5-22% faster).
  const bool strided = g.stride_h > 1 || g.stride_w > 1;
  if (kLanes == 8 && !forward && strided) return false;
  const int64_t targets = forward ? g.out_channels : g.in_channels;
  const int64_t width = forward ? g.out_w() : (g.in_w + g.stride_w - 1) / g.stride_w;
  const int64_t widest = kLanes == 8 && !strided ? kMaxUnitStrideRowWidthAvx2 : kMaxRowWidth;
  return implicit_conv2d_supports(g) && targets >= kMinTargetChannels && width <= widest &&
         requested_conv_algorithm() != ConvAlgorithmChoice::im2col;
}

namespace {
std::vector<Correlation> plans_for(const Conv2dGeometry& g, ConvPass pass) {
  if (pass == ConvPass::forward) return {forward_correlation(g)};
  return backward_input_correlations(g);
}
}  // namespace

int64_t position_rows_weight_size(const Conv2dGeometry& g, ConvPass pass) {
  int64_t size = 0;
  for (const Correlation& plan : plans_for(g, pass))
    if (!plan.b_tap.empty()) size += packed_plan_size(plan);
  return size;
}

void pack_position_rows_weight(const Conv2dGeometry& g, ConvPass pass, const float* weight,
                               float* packed) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  for (const Correlation& plan : plans_for(g, pass)) {
    if (plan.b_tap.empty()) continue;
    pack_plan(plan, weight, packed);
    packed += packed_plan_size(plan);
  }
}

void position_rows_conv2d_forward(const Conv2dGeometry& g, const float* input,
                                  const float* packed_weight, const float* bias, float* output,
                                  bool relu) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  const Correlation plan = forward_correlation(g);
  execute_position_rows(g.batch, {&plan, 1}, packed_weight, bias, relu, nullptr, nullptr, input,
                        output);
}

void position_rows_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                         const float* packed_weight, float* grad_input,
                                         const float* relu_mask, const float* addend) {
  SALIENCY_ASSERT(implicit_conv2d_supports(g), "implicit conv2d: unsupported geometry");
  const std::vector<Correlation> plans = backward_input_correlations(g);
  SALIENCY_ASSERT(!plans.empty(), "implicit conv2d: no input phase");
  execute_position_rows(g.batch, plans, packed_weight, nullptr, false, relu_mask, addend,
                        grad_output, grad_input);
}
}  // namespace saliency::kernels::cpu

#else  // neither AVX-512 nor AVX2: the im2col path serves every convolution

namespace saliency::kernels::cpu {

bool implicit_conv2d_supports(const Conv2dGeometry&) {
  return false;
}

bool implicit_conv2d_applies(const Conv2dGeometry&) {
  return false;
}

void implicit_conv2d_forward(const Conv2dGeometry&, const float*, const float*, const float*,
                             float*, bool) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512 or AVX2");
}

void implicit_conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*,
                                    const float*, const float*) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512 or AVX2");
}

bool position_rows_conv2d_applies(const Conv2dGeometry&, ConvPass) {
  return false;
}

int64_t position_rows_weight_size(const Conv2dGeometry&, ConvPass) {
  return 0;
}

void pack_position_rows_weight(const Conv2dGeometry&, ConvPass, const float*, float*) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512 or AVX2");
}

void position_rows_conv2d_forward(const Conv2dGeometry&, const float*, const float*, const float*,
                                  float*, bool) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512 or AVX2");
}

void position_rows_conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*,
                                         const float*, const float*) {
  SALIENCY_ASSERT(false, "implicit conv2d: built without AVX-512 or AVX2");
}

}  // namespace saliency::kernels::cpu

#endif
