#include "kernels/cpu/gemm_packed.h"

#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "kernels/cpu/simd.h"

#if defined(SALIENCY_SIMD)

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

using simd::kLanes;
using simd::Lanes;
using simd::Vec;

// The micro-kernel's tile of C: kRows rows x kVectors vectors of columns, one accumulator each;
// per k step kVectors aligned loads of B and kRows broadcasts of A feed them. With AVX-512 (32
// registers) 8 rows x 3 vectors of 16 columns, 24 accumulators. With AVX2 (16 registers) 6 rows
// x 2 vectors of 8, 12 accumulators: a tile loop alone, operands in L1, measured 103 GFLOP/s on
// one Zen 3 core (its FMA peak: 104) against 76 for 4 x 3 vectors and 67 for 3 x 4. (Numbers
// quoted below were measured with AVX-512 unless they say otherwise.)
constexpr int kRows = kLanes == 16 ? 8 : 6;
constexpr int kVectors = kLanes == 16 ? 3 : 2;
constexpr int64_t kPanelWidth = kLanes * kVectors;
// Floats per 64-byte cache line.
constexpr int64_t kLineFloats = 16;
// A k slice of one A panel is kRows x kDepth (8 KB with AVX-512: L1); a packed block of B is
// kDepth x kBlockColumns (384 KB: L2), read once per kRows rows of A. Blocks of straddling panels
// may hold kStraddleColumns, up to kBlockCapacity stored (plan_blocks below). (With AVX2's
// 24-column panels, blocks of 8 panels had cut a 14 x 14 map's 196 columns into 192 and 4, the
// second block reading all of A for 4 columns: layer3's 3x3 at batch 1 ran at a third of peak.)
constexpr int64_t kDepth = 256;
constexpr int64_t kBlockColumns = 384;
static_assert(kBlockColumns % kPanelWidth == 0, "blocks are whole panels");
constexpr int64_t kStraddleColumns = kBlockColumns + kLanes;
constexpr int64_t kBlockCapacity = kBlockColumns + kPanelWidth;
// B's panel streams from L2 (A's tile stays in L1); the hardware prefetcher alone left the
// kernel waiting on it: a 49-column product over 6 images ran at 84 GFLOP/s on one core without
// software prefetch, 118-120 with it 4-32 k steps ahead.
constexpr int64_t kPrefetchSteps = 16;
// Over a long k slice the B panel a tile streams (192 bytes a step: 48 KB over 256 steps, all of
// L1) evicts what the first steps fetched for the epilogue before it runs: the epilogue's
// addend loads waited on L2 or memory (perf: a fifth of the kernel's samples on them in the
// layer below). So a slice of more than kShortSlice steps fetches those lines into L2 in its
// first steps and again, into L1, from kEpilogueLead steps before its end. Harness: layer3's
// 1x1 256 -> 1024 over 14 x 14 at batch 16 with the residual (a k slice of 256 steps; 2
// threads, Zen 5, interleaved runs): 4.60-4.69 -> 4.06-4.23 ms (medians) with a lead of 72
// steps, 4.14-4.28 with 48, 4.28-4.41 with 24; with 64, min of 40 in six rounds, 4.62-4.77 ->
// 3.97-4.08. Layer2's 128 -> 512 (128 steps) kept its time only on the two-phase path (3.95-4.04
// before, 3.95-4.03 after, 4.05-4.15 fetching early only), layer1's 64 -> 256 (64 steps, too
// short for two phases) the same as before.
constexpr int64_t kShortSlice = 96;
constexpr int64_t kEpilogueLead = 64;
static_assert(kEpilogueLead >= kRows * kVectors && kShortSlice >= kEpilogueLead + kRows * kVectors,
              "a long slice's two fetching phases must not overlap");
// A C of at least kStreamBytes (prefetch.h) is stored with non-temporal stores when C is not read
// (beta 0, a single k slice). (Gemm.StreamedStoresOfALargeBatchGiveTheSameBits stores a 19 MB C
// to exercise this path.)
// Parallel products are cut into at least this many tasks when their shape allows, so that a
// core slowed by another process does not leave the other idle for long at the end.
constexpr int64_t kMinTasks = 4;
// Below this many multiply-adds, waking a second thread costs more than it saves.
constexpr int64_t kMinParallelWork = 1 << 18;

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

// A block's images may end in a few columns past their last full panel ("tail" columns: a 7 x 7
// map's 49th, a 14 x 14 map's last 4 of 196). Rather than a panel of their own, mostly zero lanes,
// they are dot products of A's rows with each column (tail_sums below). A single 7 x 7 image's
// 49 columns had taken 32 + 17 (64 lanes); now 48 + 1. bench_conv2d at batch 1, layer4 (2
// threads, Zen 5, min of 3 interleaved runs): 1x1 512 -> 2048 forward 0.294 -> 0.233 ms (cold
// weights 0.395 -> 0.279), backward 0.398 -> 0.348; downsample forward 0.678 -> 0.560, 3x3/2
// forward 0.732 -> 0.596, backward 1.01 -> 0.88. 14 x 14 maps (4 columns) gain 0-3%.
// (Batches of 7 x 7 maps straddle panels instead: no tails there.)
constexpr int64_t kMaxTailColumns = 4;
constexpr int64_t kMaxTails = kBlockColumns / kPanelWidth;  // one per image of a block

// Per-thread packing buffers, allocated once per thread at their largest size.
struct PackBuffers {
  std::unique_ptr<float, AlignedFree> a, b, tails;
  PackBuffers()
      : a(static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kRows * kDepth))),
        b(static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kDepth * kBlockCapacity))),
        tails(static_cast<float*>(
            std::aligned_alloc(64, sizeof(float) * kDepth * kMaxTailColumns * kMaxTails))) {
    SALIENCY_CHECK(a != nullptr && b != nullptr && tails != nullptr,
                   "gemm: out of memory for packing buffers");
  }
};

PackBuffers& pack_buffers() {
  thread_local PackBuffers buffers;
  return buffers;
}

// op(X)(r, k) for X stored row-major with row stride ld.
struct Operand {
  const float* data;
  int64_t ld;
  bool transposed;
};

// panel[k * lines + r] = source[r * ld + k] for r < runs (runs of `depth` floats, ld apart),
// zero for runs <= r < lines.
void transpose_runs(const float* source, int64_t ld, int64_t runs, int64_t lines, int64_t depth,
                    float* panel) {
  for (int64_t r = 0; r < lines; ++r) {
    const float* run = source + r * ld;
    for (int64_t k = 0; k < depth; ++k) panel[k * lines + r] = r < runs ? run[k] : 0.0f;
  }
}

// panel[k * kRows + r] = op(A)(i0 + r, k0 + k) for r < rows; rows beyond are zero.
//
// A transposed A's k steps are lda apart (a page or more for ResNet's channel counts), where the
// hardware prefetchers do not follow, and at batch 1 its lines come from DRAM (a network's
// weights do not stay cached between passes): the packing then waited on every line. So each
// k step also prefetches, into L2, the line 16 rows on, which the row tile after next reads.
// bench_conv2d with cold weights (2 threads, Zen 5, min of 3 interleaved runs): backward at
// batch 1 of layer4's 1x1 0.78 -> 0.59 ms, its downsample 1.70 -> 1.24, its 3x3/2 1.56 -> 1.35,
// layer3's 1x1 0.34 -> 0.30; warm weights and batch 8 the same or a little faster.
void pack_a(const Operand& a, int64_t i0, int64_t rows, int64_t k0, int64_t depth, float* panel) {
  if (a.transposed) {  // op(A)(i, k) = a[k * ld + i]: each k step is a contiguous run
    for (int64_t k = 0; k < depth; ++k) {
      const float* source = a.data + (k0 + k) * a.ld + i0;
      _mm_prefetch(reinterpret_cast<const char*>(source + kLineFloats), _MM_HINT_T1);
      float* target = panel + k * kRows;
      for (int64_t r = 0; r < rows; ++r) target[r] = source[r];
      for (int64_t r = rows; r < kRows; ++r) target[r] = 0.0f;
    }
    return;
  }
  // op(A)(i, k) = a[i * ld + k]: each row is a run
  transpose_runs(a.data + i0 * a.ld + k0, a.ld, rows, kRows, depth, panel);
}

// How wide a panel of `width` columns is stored: whole vectors, the columns past `width` zero.
// Row k of a panel holds op(B)(k0 + k, j0 + j) at panel[k * stored_width + j].
int64_t stored_width(int64_t width) {
  return (width + kLanes - 1) / kLanes * kLanes;
}

// A panel of a transposed B: op(B)(k, j) = b[j * ld + k], each column a run of k steps.
void pack_transposed_b_panel(const Operand& b, int64_t k0, int64_t depth, int64_t j0, int64_t width,
                             float* panel) {
  transpose_runs(b.data + j0 * b.ld + k0, b.ld, width, stored_width(width), depth, panel);
}

// Row k of a plain B's panel: `width` floats, zero up to the stored width.
void copy_b_row(const float* source, int64_t width, float* target) {
  for (int64_t v = 0; v < stored_width(width); v += kLanes)
    simd::store(target + v, simd::load_lanes(simd::first_lanes(width - v), source + v));
}

// How a tile's sum meets C: C = alpha * sum + c_scale * C, C not read when c_scale is 0
// (beta on the first k slice, 1 on the later ones). Vector v of a tile row lands in up to two
// runs of C: lanes segment_mask[v][s] at element segment_at[v][s] + lane of the row (a packed
// panel that straddles two images' columns splits a vector between them; otherwise segment 1 is
// empty, and segment 0's mask of the last vector says which of its columns exist).
struct Store {
  float* c;  // row 0 of the tile in image 0's C; segments are offsets from it
  int64_t ldc;
  int rows;
  int64_t segment_at[kVectors][2];
  Lanes segment_mask[kVectors][2];
  float alpha, c_scale;
  const float* bias;    // added to row i after the sum (on the last k slice), or null
  bool relu;            // max(0, value) after the bias (on the last k slice)
  const float* mask;    // laid out as c: 0 where it is not > 0 (on the last k slice), or null
  const float* addend;  // laid out as c: added after the bias (on the last k slice), or null
  bool stream;          // whole aligned vectors bypass the caches (kStreamBytes)
};

// Where a tile finds A(i, k): a[i * row + k * step]. A packed panel has row 1, step kRows; A
// read in place has the operand's own strides. Kernels take it by reference: passed by value
// (24 bytes, on the stack) its copy was stored in halves and read back whole, a store-forwarding
// stall before every micro-kernel call (perf: 45% of run_block's samples; vanilla gradient at
// batch 1 1-2% slower).
struct ATile {
  const float* a;
  int64_t row, step;
  // A read in place: the next row tile's A, whose lines the first panel's k steps fetch into L2
  // one a step. At batch 1 a network's weights come from memory, and each new tile's eight rows
  // started cold. bench_conv2d, weights from memory, batch 1 (min of 3 interleaved): layer4's
  // 1x1 512 -> 2048 forward 0.287 -> 0.241 ms, its downsample 0.584 -> 0.529, layer3's 0.249 ->
  // 0.238; warm weights unchanged. Network forward at batch 1 -5%, vanilla -2%.
  const float* next = nullptr;
};

// How a tile's A is laid out, a parameter of the micro-kernel so that its addresses are known
// when it is compiled: a packed panel (row 1, step kRows), a plain A read in place (each row a
// run: step 1), or a transposed A read in place (each k step a run: row 1; transposed_a_in_place).
// With the strides read at run time, each k step had formed its eight A addresses one from the
// other (k * step, then + row seven times) and tested which prefetch applied; rows in place now
// take two bases four rows apart and base + row * {1, 2} addressing. bench_conv2d at batch 8 (2
// threads, Zen 5, medians of 3, two interleaved rounds): the 1x1 layers 2-6% faster (layer1's
// 64 -> 256 forward 2.17-2.19 -> 2.06-2.07 ms, layer2's 512 -> 128 backward 1.94-1.96 -> 1.79-
// 1.83).
enum class ALayout { packed, rows, steps };

// Where a tile fetches its epilogue's lines (C for writing unless streamed, the addend, the
// mask): into L1, into L2 (see kEpilogueLead), or into L1 with the addend's and mask's lines of
// the next panel (48 columns on: the tile after this one in a block's sweep) into L2. A short
// slice's tile is over in a few hundred cycles, less than a line from memory takes; fetched a
// tile ahead, they arrive in time. Harness, 2 threads, Zen 5, min of 40 in 4-5 interleaved
// rounds, activations from memory: layer1's 1x1 64 -> 256 forward with the residual 5.15-5.34
// -> 4.88-5.17 ms, its 256 -> 64 backward with the ReLU mask and addend 6.20-6.35 -> 5.66-5.82.
enum class EpilogueFetch { into_l1, into_l2, into_l1_next_into_l2 };

// Where a tile's B comes from: a packed panel (aligned, zero past its columns), or read in place,
// where a panel's last vector may hold fewer columns than lanes: loaded under a mask then
// (in_place_masked). AVX-512's masks are free; AVX2's take a vector register, which a 4 x 3 tile
// has none to spare for (its loop spilled): its full panels take the unmasked kernel.
enum class BSource { packed, in_place, in_place_masked };

// One k step of a tile: acc += A's 8 rows at step k times B's row k, with the prefetches.
// last_mask: the lanes of the last vector that a B read in place may load.
template <int Vectors, BSource Source, ALayout Layout>
[[gnu::always_inline]] inline void k_step(int64_t k, int64_t depth, const ATile& at, const float* b,
                                          int64_t b_step, Lanes last_mask,
                                          Vec (&acc)[kRows][Vectors]) {
  const float* a = at.a;
  Vec columns[Vectors];
  // A transposed tile read in place fetches its own steps ahead (into L1: its lines are lda apart,
  // where the hardware prefetchers do not follow); a plain one the next tile's rows: step k
  // fetches line k / 8 of its row k % 8 (within this slice's k range).
  if constexpr (Layout == ALayout::steps) {
    if (k + kPrefetchSteps < depth)
      _mm_prefetch(reinterpret_cast<const char*>(a + (k + kPrefetchSteps) * at.step), _MM_HINT_T0);
  } else if constexpr (Layout == ALayout::rows) {
    // (With 6 rows (AVX2) the division by kRows cost more integer work than the loop's FMAs
    // left room for: steps k with k % 16 < kRows fetch line k / 16 of row k % 16 instead.)
    constexpr bool kRowsPowerOfTwo = (kRows & (kRows - 1)) == 0;
    constexpr int64_t kCycle = kRowsPowerOfTwo ? kRows : kLineFloats;
    if (at.next != nullptr && (kRowsPowerOfTwo || k % kCycle < kRows) &&
        k / kCycle * kLineFloats < depth)
      _mm_prefetch(
          reinterpret_cast<const char*>(at.next + (k % kCycle) * at.row + k / kCycle * kLineFloats),
          _MM_HINT_T1);
  }
  // A(i, k) for the tile's rows (rows in place: base + row * {0, 1, 2} from two bases, and the
  // fourth row one lea further).
  const char* row_base = reinterpret_cast<const char*>(a + k);
  const int64_t row_bytes = at.row * int64_t(sizeof(float));
  auto a_value = [&](int i) -> const float* {
    if constexpr (Layout == ALayout::packed) return a + k * kRows + i;
    if constexpr (Layout == ALayout::steps) return a + k * at.step + i;
    const char* base = i < 4 ? row_base : row_base + 4 * row_bytes;
    return reinterpret_cast<const float*>(base + (i % 4) * row_bytes);
  };
  // (B's step ahead, a line at a time: with 8 lanes two vectors share a line)
#pragma GCC unroll 3
  for (int64_t line = 0; line < Vectors * kLanes; line += kLineFloats)
    _mm_prefetch(reinterpret_cast<const char*>(b + (k + kPrefetchSteps) * b_step + line),
                 _MM_HINT_T0);
  // A row read in place starts wherever the plane puts it: a 14 x 14 map's rows are 784 bytes
  // apart, so three of four AVX2 panels' 64 bytes straddle two lines, and the second line had
  // come on demand, from L2. bench_conv2d, layer3's 1x1 layers at batch 8 (min of 10
  // alternating medians, Zen 3 with AVX2, ms): 1024 -> 256 forward 7.21 -> 6.65, backward 6.40
  // -> 6.10; 256 -> 1024 6.30 -> 6.08 / 7.83 -> 6.70; layers with aligned rows within 3%.
  if constexpr (Source != BSource::packed && kLanes == 8)
    _mm_prefetch(
        reinterpret_cast<const char*>(b + (k + kPrefetchSteps) * b_step + Vectors * kLanes - 1),
        _MM_HINT_T0);
#pragma GCC unroll 3
  for (int v = 0; v < Vectors; ++v) {
    const float* column = b + k * b_step + kLanes * v;
    if constexpr (Source == BSource::packed)
      columns[v] = simd::load(column);
    else if (Source == BSource::in_place_masked && v + 1 == Vectors)
      columns[v] = simd::load_lanes(last_mask, column);
    else
      columns[v] = simd::loadu(column);
  }
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i) {
    const Vec weight = simd::broadcast(*a_value(i));
#pragma GCC unroll 3
    for (int v = 0; v < Vectors; ++v) acc[i][v] = simd::fmadd(weight, columns[v], acc[i][v]);
  }
}

// Steps [from, to) of a tile.
template <int Vectors, BSource Source, ALayout Layout>
[[gnu::always_inline]] inline void k_steps(int64_t from, int64_t to, int64_t depth, const ATile& at,
                                           const float* b, int64_t b_step, Lanes last_mask,
                                           Vec (&acc)[kRows][Vectors]) {
#pragma GCC unroll 2
  for (int64_t k = from; k < to; ++k)
    k_step<Vectors, Source, Layout>(k, depth, at, b, b_step, last_mask, acc);
}

// The lines of a tile's epilogue, Store's fields copied once so that the steps that fetch them
// do not read them again: row r's vector v at r * ldc + at[v] of c (null when streamed), of the
// addend and of the mask (null when absent); vectors without lanes are not fetched.
struct EpilogueLines {
  float* c;
  const float* addend;
  const float* mask;
  int64_t ldc;
  int rows;
  int64_t at[kVectors];
  bool present[kVectors];

  explicit EpilogueLines(const Store& out)
      : c(out.stream ? nullptr : out.c),
        addend(out.addend),
        mask(out.mask),
        ldc(out.ldc),
        rows(out.rows) {
    for (int v = 0; v < kVectors; ++v) {
      at[v] = out.segment_at[v][0];
      present[v] = out.segment_mask[v][0] != 0;
    }
  }

  // When the epilogue's lines come from memory (batched products over large maps) it had waited
  // on each in turn. Harness of a 1x1 64 -> 256 layer over 56 x 56 at batch 16 with a residual,
  // activations from memory (2 threads, Zen 5): forward 7.3 -> 5.3 ms, backward 5.0 -> 4.3 ms.
  // (Inlined by force: GCC 12 dropped these prefetches from a function of their own that it
  // did not inline.)
  template <EpilogueFetch Fetch>
  [[gnu::always_inline]] void fetch(int64_t row_at, int v) const {
    if (!present[v]) return;
    const int64_t line = row_at + at[v];
    if (c != nullptr) __builtin_prefetch(c + line, 1, 3);
    constexpr auto hint = Fetch == EpilogueFetch::into_l2 ? _MM_HINT_T1 : _MM_HINT_T0;
    if (addend != nullptr) _mm_prefetch(reinterpret_cast<const char*>(addend + line), hint);
    if (mask != nullptr) _mm_prefetch(reinterpret_cast<const char*>(mask + line), hint);
    if constexpr (Fetch == EpilogueFetch::into_l1_next_into_l2) {
      // (past the block's or an image's last panel this fetches lines nobody reads: harmless)
      if (addend != nullptr)
        _mm_prefetch(reinterpret_cast<const char*>(addend + line + kPanelWidth), _MM_HINT_T1);
      if (mask != nullptr)
        _mm_prefetch(reinterpret_cast<const char*>(mask + line + kPanelWidth), _MM_HINT_T1);
    }
  }

  // All of a tile's lines (its Vectors vectors a row).
  template <int Vectors, EpilogueFetch Fetch>
  [[gnu::always_inline]] void fetch_all() const {
    for (int r = 0; r < rows; ++r)
#pragma GCC unroll 3
      for (int v = 0; v < Vectors; ++v) fetch<Fetch>(r * ldc, v);
  }
};

// kRows * Vectors steps from `from`, step from + r * Vectors + v fetching row r's vector v of the
// epilogue (rows and vectors as loops of their own: a step counter divided into them had cost
// each fetching step a dozen integer instructions).
template <int Vectors, BSource Source, ALayout Layout, EpilogueFetch Fetch>
[[gnu::always_inline]] inline void fetching_steps(int64_t from, int64_t depth, const ATile& at,
                                                  const float* b, int64_t b_step, Lanes last_mask,
                                                  const EpilogueLines& lines,
                                                  Vec (&acc)[kRows][Vectors]) {
  int64_t k = from;
  for (int r = 0; r < kRows; ++r) {
    const bool fetch = r < lines.rows;
    const int64_t row_at = r * lines.ldc;
#pragma GCC unroll 3
    for (int v = 0; v < Vectors; ++v, ++k) {
      if (fetch) lines.fetch<Fetch>(row_at, v);
      k_step<Vectors, Source, Layout>(k, depth, at, b, b_step, last_mask, acc);
    }
  }
}

// C = alpha * acc + c_scale * C with the epilogue (Store), for a tile's rows, in place in acc
// and then stored. Each step of the epilogue is one pass over the tile's registers, so that a
// tile tests each of Store's options once, not once a vector; and Store's fields are read once,
// into locals (read through `out`, each had been loaded again after every store to C: a float
// store may alias them). One core, Zen 3, 64-step products from L2 (66 x 64 by 64 x 384): 71-74
// -> 78-82 GFLOP/s against tests a vector; from memory, the harness of kFetchAtOnce below, 0-9%
// faster (64 x 64 over 56 x 56 51.8 -> 56.3, 2048 x 512 over 7 x 7 75.5 -> 81.3).
template <int Vectors>
[[gnu::always_inline]] inline void store_tile(const Store& out, Vec (&acc)[kRows][Vectors]) {
  float* const c = out.c;
  const float *const bias = out.bias, *const addend = out.addend, *const mask = out.mask;
  const int64_t ldc = out.ldc;
  const int rows = out.rows;
  Lanes first[Vectors], second[Vectors];
  int64_t first_at[Vectors], next_at[Vectors];
  bool whole[Vectors];
  for (int v = 0; v < Vectors; ++v) {
    first[v] = out.segment_mask[v][0];
    second[v] = out.segment_mask[v][1];
    first_at[v] = out.segment_at[v][0];
    next_at[v] = out.segment_at[v][1];
    whole[v] = first[v] == simd::kAllLanes && second[v] == 0;
  }
  // Vector v of a row of C, the addend or the mask (`base` at the row) as laid out at its lanes:
  // one run, or two where a straddling panel's vector crosses into the next image.
  auto load = [&](const float* base, int v) SALIENCY_INLINE_LAMBDA {
    if (whole[v]) return simd::loadu(base + first_at[v]);
    const Vec value = simd::load_lanes(first[v], base + first_at[v]);
    return second[v] == 0 ? value : simd::load_lanes_into(value, second[v], base + next_at[v]);
  };
  // Applies step(value, row i, vector v) to each of the tile's rows.
  auto each = [&](auto step) SALIENCY_INLINE_LAMBDA {
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      if (i >= rows) break;
#pragma GCC unroll 3
      for (int v = 0; v < Vectors; ++v) acc[i][v] = step(acc[i][v], i, v);
    }
  };
  const Vec alpha = simd::broadcast(out.alpha);
  each([&](Vec x, int, int) SALIENCY_INLINE_LAMBDA { return simd::mul(alpha, x); });
  if (out.c_scale != 0.0f) {
    const Vec c_scale = simd::broadcast(out.c_scale);
    each([&](Vec x, int i, int v)
             SALIENCY_INLINE_LAMBDA { return simd::fmadd(c_scale, load(c + i * ldc, v), x); });
  }
  if (bias != nullptr)
    each([&](Vec x, int i, int)
             SALIENCY_INLINE_LAMBDA { return simd::add(x, simd::broadcast(bias[i])); });
  if (addend != nullptr)
    each([&](Vec x, int i, int v)
             SALIENCY_INLINE_LAMBDA { return simd::add(x, load(addend + i * ldc, v)); });
  if (out.relu) each([&](Vec x, int, int) SALIENCY_INLINE_LAMBDA { return simd::relu(x); });
  if (mask != nullptr)
    each([&](Vec x, int i, int v) SALIENCY_INLINE_LAMBDA {
      return simd::keep_where_positive(load(mask + i * ldc, v), x);
    });
  const bool stream = out.stream;
  each([&](Vec x, int i, int v) SALIENCY_INLINE_LAMBDA {
    float* const row = c + i * ldc;
    float* const target = row + first_at[v];
    if (!whole[v]) {
      simd::store_lanes(target, first[v], x);
      if (second[v] != 0) simd::store_lanes(row + next_at[v], second[v], x);
    } else if (stream && reinterpret_cast<uintptr_t>(target) % sizeof(Vec) == 0) {
      simd::stream(target, x);
    } else {
      simd::storeu(target, x);
    }
    return x;
  });
}

// Whether a tile fetches its epilogue's lines all at once (when its phase starts) rather than
// one a step over kRows x Vectors steps (fetching_steps). With AVX2's 16 general registers
// holding six row addresses, the per-step tests of the spread form spilled, and a fetching step
// took two to three times a plain one (perf, 64-step slices). Single-threaded harness, Zen 3,
// batched products of bench_conv2d's 1x1 shapes at batch 8 with caches flushed, min of 90 runs,
// spread -> at once (together with store_tile's locals), GFLOP/s: 64 x 64 over 56 x 56 45.2 ->
// 53.2, 256 x 64 with bias, addend and ReLU 47.3 -> 55.7, 512 x 128 over 28 x 28 60.7 -> 73.0,
// 1024 x 256 over 14 x 14 70.3 -> 77.9, 2048 x 512 over 7 x 7 75.4 -> 79.3; on 2 threads 85.6
// -> 108.8, 90.5 -> 107.5, 120.4 -> 145.3, 138.3 -> 153.1, 144.4 -> 152.6. AVX-512 builds keep
// the spread fetches their measurements chose (on Zen 5 fetching at once was no faster for
// 64-step slices; long ones not measured).
constexpr bool kFetchAtOnce = kLanes == 8;

// One kRows x (Vectors * 16) tile over `depth` k steps: b is the packed B panel (Vectors * 16
// per step, 64-byte aligned). The epilogue's lines are fetched as the slice starts: a short
// slice's into L1 (and the next tile's into L2); a long one's into L2, then again, into L1, from
// kEpilogueLead steps before its end. Spread (kFetchAtOnce false), 8 x Vectors steps from those
// points fetch one each.
template <int Vectors, BSource Source, ALayout Layout>
void micro_kernel(int64_t depth, const ATile& at, const float* b, int64_t b_step,
                  const Store& out) {
  if constexpr (Source == BSource::packed) b_step = kLanes * Vectors;
  Vec acc[kRows][Vectors];
#pragma GCC unroll 8
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int v = 0; v < Vectors; ++v) acc[i][v] = simd::zero();
  constexpr int64_t kLines = kRows * Vectors;
  using enum EpilogueFetch;
  const Lanes last_mask = out.segment_mask[Vectors - 1][0];
  const EpilogueLines lines(out);
  const int64_t again = depth - kEpilogueLead;  // (long slices: > kLines, phases apart)
  if (depth < kLines) {                         // too few steps to spread the fetches over
    lines.fetch_all<Vectors, into_l1>();
    k_steps<Vectors, Source, Layout>(0, depth, depth, at, b, b_step, last_mask, acc);
  } else if (kFetchAtOnce && depth <= kShortSlice) {
    lines.fetch_all<Vectors, into_l1_next_into_l2>();
    k_steps<Vectors, Source, Layout>(0, depth, depth, at, b, b_step, last_mask, acc);
  } else if (kFetchAtOnce) {
    lines.fetch_all<Vectors, into_l2>();
    k_steps<Vectors, Source, Layout>(0, again, depth, at, b, b_step, last_mask, acc);
    lines.fetch_all<Vectors, into_l1>();
    k_steps<Vectors, Source, Layout>(again, depth, depth, at, b, b_step, last_mask, acc);
  } else if (depth <= kShortSlice) {
    fetching_steps<Vectors, Source, Layout, into_l1_next_into_l2>(0, depth, at, b, b_step,
                                                                  last_mask, lines, acc);
    k_steps<Vectors, Source, Layout>(kLines, depth, depth, at, b, b_step, last_mask, acc);
  } else {
    fetching_steps<Vectors, Source, Layout, into_l2>(0, depth, at, b, b_step, last_mask, lines,
                                                     acc);
    k_steps<Vectors, Source, Layout>(kLines, again, depth, at, b, b_step, last_mask, acc);
    fetching_steps<Vectors, Source, Layout, into_l1>(again, depth, at, b, b_step, last_mask, lines,
                                                     acc);
    k_steps<Vectors, Source, Layout>(again + kLines, depth, depth, at, b, b_step, last_mask, acc);
  }
  store_tile(out, acc);
}

// sums[r] = the sum of acc[r]'s lanes, r < kRows.
void store_lane_sums(const Vec (&acc)[kRows], float* sums) {
#if defined(__AVX512F__)
  simd::store_lane_sums(acc, sums);  // 8 vectors folded into each other
#else
  for (int r = 0; r < kRows; ++r) sums[r] = simd::lane_sum(acc[r]);
#endif
}

// sums[t * kRows + r] = the sum over one k slice of A(r, k) * column t of the tail (columns[t *
// depth + k]) for a tile's rows: a plain A read in place (each row a run of k steps, vectors
// along k), or a packed or in-place transposed one (each k step a run of the tile's rows: where
// they are half a vector, a vector holds two k steps, one load when packed). The k order differs
// from the micro-kernel's; each element's is still fixed by the shape (not by threads, tasks or
// where A is read from).
void tail_sums(int64_t depth, const ATile& at, const float* columns, int64_t count, float* sums) {
  for (int64_t t = 0; t < count; ++t) {
    const float* column = columns + t * depth;
    if (at.step == 1) {
      Vec acc[kRows];
      for (int r = 0; r < kRows; ++r) acc[r] = simd::zero();
      for (int64_t k = 0; k < depth; k += kLanes) {
        const Lanes mask = simd::first_lanes(depth - k);
        const Vec b = simd::load_lanes(mask, column + k);
#pragma GCC unroll 8
        for (int r = 0; r < kRows; ++r)
          acc[r] = simd::fmadd(simd::load_lanes(mask, at.a + r * at.row + k), b, acc[r]);
      }
      store_lane_sums(acc, sums + t * kRows);
      continue;
    }
    constexpr int kChains = 4;  // independent sums, so that the FMAs do not wait on each other
    Vec acc[kChains];
    for (int u = 0; u < kChains; ++u) acc[u] = simd::zero();
    const Lanes rows_lanes = simd::first_lanes(kRows);
    int64_t k = 0;
#if defined(__AVX512F__)  // 8 rows, half a vector: a vector holds two k steps
    for (; k + 2 * kChains <= depth; k += 2 * kChains)
#pragma GCC unroll 4
      for (int u = 0; u < kChains; ++u) {
        const int64_t step = k + 2 * u;  // low half: k step `step`, high half: step + 1
        const Vec b = simd::halves(column[step], column[step + 1]);
        const float* rows = at.a + step * at.step;
        const Vec a =
            at.step == kRows ? simd::loadu(rows) : simd::load_halves(rows, rows + at.step);
        acc[u] = simd::fmadd(a, b, acc[u]);
      }
    for (; k < depth; ++k)
      acc[0] = simd::fmadd(simd::load_lanes(rows_lanes, at.a + k * at.step),
                           simd::broadcast(column[k]), acc[0]);
    const Vec both = simd::add(simd::add(acc[0], acc[1]), simd::add(acc[2], acc[3]));
    simd::store_folded_halves(sums + t * kRows, both);  // low half plus high half
#else  // 6 rows (AVX2): a k step a vector, its lanes past kRows zero
    for (; k + kChains <= depth; k += kChains)
#pragma GCC unroll 4
      for (int u = 0; u < kChains; ++u)
        acc[u] = simd::fmadd(simd::load_lanes(rows_lanes, at.a + (k + u) * at.step),
                             simd::broadcast(column[k + u]), acc[u]);
    for (; k < depth; ++k)
      acc[0] = simd::fmadd(simd::load_lanes(rows_lanes, at.a + k * at.step),
                           simd::broadcast(column[k]), acc[0]);
    const Vec all = simd::add(simd::add(acc[0], acc[1]), simd::add(acc[2], acc[3]));
    simd::store_lanes(sums + t * kRows, rows_lanes, all);
#endif
  }
}

// Stores a tile's tail sums (`count` columns from element `column_at` of each row of C) with the
// micro-kernel's operations, in its order, one element at a time.
void store_tail(const Store& out, int64_t column_at, int64_t count, const float* sums) {
  for (int r = 0; r < out.rows; ++r)
    for (int64_t t = 0; t < count; ++t) {
      const int64_t at = r * out.ldc + column_at + t;
      float value = out.alpha * sums[t * kRows + r];
      if (out.c_scale != 0.0f) value = std::fma(out.c_scale, out.c[at], value);
      if (out.bias != nullptr) value += out.bias[r];
      if (out.addend != nullptr) value += out.addend[at];
      if (out.relu) value = value > 0.0f ? value : 0.0f;  // NaN and -0 -> 0, as the max above
      if (out.mask != nullptr && !(out.mask[at] > 0.0f)) value = 0.0f;
      out.c[at] = value;
    }
}

using MicroKernel = void (*)(int64_t, const ATile&, const float*, int64_t, const Store&);
template <BSource Source, ALayout Layout, int... Widths>
constexpr std::array<MicroKernel, kVectors> kernels_by_width(
    std::integer_sequence<int, Widths...>) {
  return {&micro_kernel<Widths + 1, Source, Layout>...};
}
// [vectors - 1]
template <BSource Source, ALayout Layout>
constexpr std::array<MicroKernel, kVectors> kKernelsByWidth =
    kernels_by_width<Source, Layout>(std::make_integer_sequence<int, kVectors>{});
template <BSource Source>
constexpr const MicroKernel* kKernelsByLayout[3] = {kKernelsByWidth<Source, ALayout::packed>.data(),
                                                    kKernelsByWidth<Source, ALayout::rows>.data(),
                                                    kKernelsByWidth<Source, ALayout::steps>.data()};
// [B's source][A's layout][vectors - 1]
constexpr const MicroKernel* const* kMicroKernels[3] = {kKernelsByLayout<BSource::packed>,
                                                        kKernelsByLayout<BSource::in_place>,
                                                        kKernelsByLayout<BSource::in_place_masked>};

// The kernel for a panel: B packed or in place, the last vector masked where it must be.
MicroKernel micro_kernel_for(bool b_in_place, ALayout layout, int64_t vectors, Lanes last_lanes) {
  BSource source = BSource::packed;
  if (b_in_place)
    source =
        last_lanes == simd::kAllLanes && kLanes == 8 ? BSource::in_place : BSource::in_place_masked;
  return kMicroKernels[static_cast<int>(source)][static_cast<int>(layout)][vectors - 1];
}

struct Product {
  GemmArgs shape;
  BatchedColumns batch;
  Operand a, b;
  float alpha, beta;
  float* c;
  RowEpilogue<float> epilogue;
  const GatheredB* gathered = nullptr;  // B made by a function instead of read from b
};

// Where a plain B's elements are read: op(B_image)(k, j) at at(image, k, j). The product's own B,
// or a gathered one's rows for one block and k slice (images from first_image, k from k0, columns
// from j0) in a buffer.
struct BRows {
  const float* data;
  int64_t ld, image_stride, first_image = 0, k0 = 0, j0 = 0;

  const float* at(int64_t image, int64_t k, int64_t j) const {
    return data + (image - first_image) * image_stride + (k - k0) * ld + (j - j0);
  }
};

BRows rows_of(const Product& p) {
  return {p.b.data, p.b.ld, p.batch.b_stride};
}

// A task's share of C: rows [i_begin, i_end) of `images` consecutive images from `first_image`,
// columns [j_begin, j_end) of each.
int64_t slice_count(int64_t k) {
  return (k + kDepth - 1) / kDepth;
}

struct Block {
  int64_t i_begin, i_end, first_image, images, j_begin, j_end;
};

// A block's columns as panels: 48 wide, except that a remainder of 1-4 columns after a full panel
// is the image's tail (kMaxTailColumns) and one of 5-16 is split as 32 + (16 + remainder): a
// one-vector tile is bound by its loads (9 per 8 FMAs), and 49-column products (7 x 7 maps) would
// otherwise spend a third of their time in one. A block may hold several images' columns (batched
// products); panels straddle images only when the images are small (straddles() below).
constexpr int64_t kMaxPanels = kBlockCapacity / kLanes;
struct Panels {
  int64_t count = 0, stored = 0;  // stored: the packed block's width, whole vectors
  int64_t image[kMaxPanels], start[kMaxPanels], width[kMaxPanels], offset[kMaxPanels];
  // Straddling panels (image_columns > 0): the block's images' columns, image_columns each,
  // laid end to end from image[0]; start counts columns from there.
  int64_t image_columns = 0;
  // Tail columns, one run per image: tail_width columns of tail_image from tail_start on.
  int64_t tails = 0;
  int64_t tail_image[kMaxTails], tail_start[kMaxTails], tail_width[kMaxTails];

  // Adds `columns` columns of `image`, from column `first` on; with `tail`, a remainder of up
  // to kMaxTailColumns after full panels becomes the image's tail.
  void add(int64_t image_index, int64_t first, int64_t columns, bool tail) {
    const int64_t begin = count;
    const int64_t past_panels = columns % kPanelWidth;
    if (tail && columns > kPanelWidth && past_panels > 0 && past_panels <= kMaxTailColumns) {
      columns -= past_panels;
      tail_image[tails] = image_index;
      tail_start[tails] = first + columns;
      tail_width[tails++] = past_panels;
    }
    for (int64_t j = 0; j < columns; j += kPanelWidth) {
      image[count] = image_index;
      start[count] = first + j;
      width[count++] = std::min(kPanelWidth, columns - j);
    }
    const int64_t remainder = columns % kPanelWidth;
    if (kVectors >= 3 && count - begin >= 2 && remainder > 0 && remainder <= kLanes) {
      width[count - 2] = kPanelWidth - kLanes;
      start[count - 1] -= kLanes;
      width[count - 1] = remainder + kLanes;
    }
    for (int64_t q = begin; q < count; ++q) {
      offset[q] = stored;
      stored += stored_width(width[q]);
    }
  }
};

// A plain A's full tiles are read in place: each row is a run of k steps, 8 runs of 1 KB per k
// slice, which stay in L1 while the tile sweeps the block's panels of B (packing them measured
// 5-30% slower). A transposed A is packed: its k steps are runs of 8 floats lda apart, and with
// lda a multiple of 512 floats (ResNet's channel counts) all 256 of a slice's lines fall in the
// same few L1 sets and are evicted between panels.
bool reads_a_in_place(const Operand& a, int rows) {
  return !a.transposed && rows == kRows;
}

// A transposed A is read in place too when the block has a single panel (at batch 1, a 7 x 7
// map's 48 columns and its tail): each tile then sweeps its k steps once, so a slice's lines
// sharing a few L1 sets costs little, and packing only added a copy that waited on every line
// (the weights come from memory at batch 1). Not when lda is a multiple of 1024 floats: every
// line of a slice then falls in one L1 set, and the tail sums and the next row tile (the other
// half of each line) went back to L2 for all of them. Full tiles only: a partial one is packed
// with its zero rows. bench_conv2d at batch 1 (2 threads, Zen 5, medians of 3, three
// interleaved rounds, ms): backward of layer4's 1x1 512 -> 2048 0.376-0.404 -> 0.308-0.349 with
// weights from memory, 0.308-0.318 -> 0.291-0.297 cached; of its 3x3 on the direct path
// 0.93-1.06 -> 0.83-0.96; its 3x3/2 within noise; its 1x1/2 downsample (lda 1024) 0.70-0.73 ->
// 0.80-0.82 in place, hence the rule above.
bool transposed_a_in_place(const Operand& a, int rows, const Panels& panels,
                           const float* packed_a) {
  return a.transposed && a.ld % 1024 != 0 && rows == kRows && panels.count == 1 &&
         packed_a == nullptr;
}

// A plain B is read in place, its k steps ldb apart, when ldb is not a multiple of 256 floats
// (a convolution's plane: 3136, 784, 196, 49 positions): packing it was a pass over B per block
// that only m / 8 row tiles shared. bench_conv2d's 1x1 layers on this machine (Zen 5): 10-30%
// faster at batch 8 with few rows (256 -> 64 forward 2.64 -> 1.85 ms, 64 -> 256 backward 2.9
// -> 2.0 ms), the rest the same or a little faster. Strides that are multiples of 1 KB (linear
// layers, attention) would put a slice's rows in a few cache sets, so those are still packed.
bool reads_b_in_place(const Operand& b) {
  return !b.transposed && b.ld % 256 != 0;
}

// Small images (16 to 64 columns: a 7 x 7 map's 49) have panels that straddle images, packed
// end to end: 49-column images otherwise take a 32 + 17 split, two 2-vector tiles with 64 lanes
// for 49 columns; end to end, a block of seven takes 48-column panels (352 lanes for 343).
// Each image's sums are unchanged (the same k order per element). Needs B packed, and C's
// stores split where a vector crosses from one image to the next (Store's segments).
// bench_conv2d at batch 8 (min of 5 interleaved runs, ms): layer4's 1x1 512 -> 2048 forward
// 2.44 -> 1.96, backward 3.20 -> 2.72; its downsample forward 6.27 -> 5.03, backward 8.50 ->
// 7.65; its 3x3/2 (im2col) backward 7.35 -> 6.35, forward unchanged. Larger maps keep their
// in-place panels: packing B there costs a pass that few row tiles share, for at most 6% of
// lanes (14 x 14).
bool straddles(const Product& p) {
  return !p.b.transposed && p.batch.batch >= 2 && p.shape.n >= 16 && p.shape.n <= 64;
}

Panels block_panels(const Block& block, bool straddle) {
  Panels panels;
  if (straddle) {
    panels.add(block.first_image, 0, block.images * (block.j_end - block.j_begin), false);
    panels.image_columns = block.j_end - block.j_begin;
    SALIENCY_ASSERT(panels.stored <= kBlockCapacity, "packed gemm: a block past its buffer");
    return panels;
  }
  for (int64_t image = block.first_image; image < block.first_image + block.images; ++image)
    panels.add(image, block.j_begin, block.j_end - block.j_begin, true);
  return panels;
}

// Where panel q's vectors land in C, relative to row 0 of image 0's C: one segment per vector,
// or two where a straddling panel's vector crosses into the next image.
void panel_segments(const Product& p, const Panels& panels, int64_t q, Store& out) {
  const int64_t width = panels.width[q];
  for (int64_t v = 0; v < kVectors; ++v) {
    out.segment_mask[v][0] = out.segment_mask[v][1] = 0;
    out.segment_at[v][0] = out.segment_at[v][1] = 0;
    const int64_t lanes = std::clamp<int64_t>(width - kLanes * v, 0, kLanes);
    if (lanes == 0) continue;
    const int64_t column = panels.start[q] + kLanes * v;  // of the panel's column space
    const Lanes all = simd::first_lanes(lanes);
    if (panels.image_columns == 0) {
      out.segment_at[v][0] = panels.image[q] * p.batch.c_stride + column;
      out.segment_mask[v][0] = all;
      continue;
    }
    const int64_t image = panels.image[q] + column / panels.image_columns;
    const int64_t within = column % panels.image_columns;
    const int64_t first = std::min(lanes, panels.image_columns - within);
    out.segment_at[v][0] = image * p.batch.c_stride + within;
    out.segment_mask[v][0] = simd::first_lanes(first);
    if (first < lanes) {  // lane first is column 0 of the next image
      out.segment_at[v][1] = (image + 1) * p.batch.c_stride - first;
      out.segment_mask[v][1] = static_cast<Lanes>(all & ~out.segment_mask[v][0]);
    }
  }
}

// A straddling panel q's columns as runs of one image each: visit(image, within, run, j) for the
// run of `run` columns from the image's column `within`, at the panel's column j.
template <typename Visit>
void for_each_image_run(const Panels& panels, int64_t q, const Visit& visit) {
  const int64_t n = panels.image_columns;
  for (int64_t j = 0; j < panels.width[q];) {
    const int64_t column = panels.start[q] + j;
    const int64_t image = panels.image[q] + column / n, within = column % n;
    const int64_t run = std::min(n - within, panels.width[q] - j);
    visit(image, within, run, j);
    j += run;
  }
}

// Packs one k slice of a block's B: panel q at packed + offset[q] * depth. A plain B is copied
// k step by k step across all panels, so each source row is read once, front to back.
void pack_b_slice(const Product& p, const BRows& rows, const Panels& panels, int64_t k0,
                  int64_t depth, float* packed) {
  if (p.b.transposed) {
    for (int64_t q = 0; q < panels.count; ++q)
      pack_transposed_b_panel({p.b.data + panels.image[q] * p.batch.b_stride, p.b.ld, true}, k0,
                              depth, panels.start[q], panels.width[q],
                              packed + panels.offset[q] * depth);
    return;
  }
  if (panels.image_columns > 0 && p.gathered != nullptr) {
    // straddling, gathered: each image's run of a panel made in place (rows a panel's width apart)
    for (int64_t q = 0; q < panels.count; ++q) {
      const int64_t stored = stored_width(panels.width[q]);
      float* panel = packed + panels.offset[q] * depth;
      for_each_image_run(panels, q, [&](int64_t image, int64_t within, int64_t run, int64_t j) {
        p.gathered->fill(p.gathered->context, image, k0, depth, within, run, panel + j, stored);
      });
      if (stored > panels.width[q])
        for (int64_t k = 0; k < depth; ++k)
          std::fill(panel + k * stored + panels.width[q], panel + (k + 1) * stored, 0.0f);
    }
    return;
  }
  if (panels.image_columns > 0) {  // straddling: each panel row gathered from its images' rows
    for (int64_t k = 0; k < depth; ++k)
      for (int64_t q = 0; q < panels.count; ++q) {
        float* target = packed + panels.offset[q] * depth + k * stored_width(panels.width[q]);
        for_each_image_run(panels, q, [&](int64_t image, int64_t within, int64_t run, int64_t j) {
          std::copy_n(rows.at(image, k0 + k, within), run, target + j);
        });
        std::fill(target + panels.width[q], target + stored_width(panels.width[q]), 0.0f);
      }
    return;
  }
  for (int64_t k = 0; k < depth; ++k)
    for (int64_t q = 0; q < panels.count; ++q)
      copy_b_row(rows.at(panels.image[q], k0 + k, panels.start[q]), panels.width[q],
                 packed + panels.offset[q] * depth + k * stored_width(panels.width[q]));
}

// Copies one k slice of each image's tail columns: tail q's column t as a run of k steps at
// columns + (q * kMaxTailColumns + t) * depth.
void pack_tail_columns(const Product& p, const BRows& rows, const Panels& panels, int64_t k0,
                       int64_t depth, float* columns) {
  for (int64_t q = 0; q < panels.tails; ++q) {
    const float* b = p.b.data + panels.tail_image[q] * p.batch.b_stride;
    float* target = columns + q * kMaxTailColumns * depth;
    for (int64_t t = 0; t < panels.tail_width[q]; ++t) {
      const int64_t j = panels.tail_start[q] + t;
      for (int64_t k = 0; k < depth; ++k)
        target[t * depth + k] =
            p.b.transposed ? b[j * p.b.ld + k0 + k] : *rows.at(panels.tail_image[q], k0 + k, j);
    }
  }
}

// A gathered B's rows for one block: an odd number of 64-byte lines apart, so that a slice's rows
// spread over all L1 sets (384 columns, 24 lines, would put them in 8 of the 64).
int64_t gathered_ld(const Block& block) {
  int64_t lines = (stored_width(block.j_end - block.j_begin) + kLineFloats - 1) / kLineFloats;
  if (lines % 2 == 0) ++lines;
  return lines * kLineFloats;
}
int64_t gathered_floats(const Block& block) {
  return block.images * kDepth * gathered_ld(block);
}

// Rows [k0, k0 + depth) of a gathered B over the block's columns in `buffer` (gathered_floats),
// each image's rows after the previous image's.
BRows gathered_rows(const Block& block, int64_t k0, int64_t depth, const float* buffer) {
  const int64_t ld = gathered_ld(block);
  return {buffer, ld, depth * ld, block.first_image, k0, block.j_begin};
}

// Gathers those rows into `buffer`.
BRows gather_block(const Product& p, const Block& block, int64_t k0, int64_t depth, float* buffer) {
  const BRows rows = gathered_rows(block, k0, depth, buffer);
  for (int64_t i = 0; i < block.images; ++i)
    p.gathered->fill(p.gathered->context, block.first_image + i, k0, depth, block.j_begin,
                     block.j_end - block.j_begin, buffer + i * rows.image_stride, rows.ld);
  return rows;
}

// What a product's tasks share when several take the same block (row groups): B's slices for
// all of them, prepared once in a pass before them. Packed: slice s of a block's panels at
// packed + s * kSliceFloats; gathered: slice s of its gathered rows at gathered + s *
// gathered_slice (read in place).
struct SharedB {
  const float* packed = nullptr;
  const float* gathered = nullptr;
  int64_t gathered_slice = 0;
};

// One block of C, every k slice in order. B's slices come shared (SharedB) or are packed, or
// gathered, here; A's panels come packed (packed_a: the panel of row tile r and slice s at
// packed_a + (r * slices + s) * kPanelFloats) or are read in place or packed here.
constexpr int64_t kSliceFloats = kDepth * kBlockCapacity;
constexpr int64_t kPanelFloats = kRows * kDepth;

// Slices of at most kGroupDepth steps run kGroupTiles row tiles side by side (run_block).
constexpr int64_t kGroupDepth = 64;
constexpr int64_t kGroupTiles = 8;

void run_block(const Product& p, const Block& block, const SharedB& shared, const float* packed_a,
               bool b_in_place) {
  PackBuffers& buffers = pack_buffers();
  const Panels panels = block_panels(block, straddles(p));
  // A gathered B read in place: its rows of this block, one k slice at a time, unless shared.
  // (Straddling panels are gathered straight into the panels, pack_b_slice.)
  const bool gathers = p.gathered != nullptr && b_in_place && shared.gathered == nullptr;
  // (Allocated only when used: a task's empty scratch would still take a block from the cache,
  // and how many the threads hold at once would decide how many a pass allocates.)
  std::optional<Scratch<float>> gathered;
  if (gathers) gathered.emplace(gathered_floats(block));
  for (int64_t k0 = 0; k0 < p.shape.k; k0 += kDepth) {
    const int64_t depth = std::min(kDepth, p.shape.k - k0), slice = k0 / kDepth;
    BRows b_rows = rows_of(p);
    if (shared.gathered != nullptr)
      b_rows = gathered_rows(block, k0, depth, shared.gathered + slice * shared.gathered_slice);
    else if (gathers)
      b_rows = gather_block(p, block, k0, depth, gathered->data());
    const float* packed = buffers.b.get();
    if (b_in_place)
      packed = nullptr;
    else if (shared.packed != nullptr)
      packed = shared.packed + slice * kSliceFloats;
    else
      pack_b_slice(p, b_rows, panels, k0, depth, buffers.b.get());
    pack_tail_columns(p, b_rows, panels, k0, depth, buffers.tails.get());
    const float c_scale = k0 == 0 ? p.beta : 1.0f;
    const bool last_slice = k0 + kDepth >= p.shape.k;
    // A row tile's A and the store of its results.
    struct Tile {
      ATile at;
      ALayout layout;
      Store out;
    };
    const auto tile_at = [&](int64_t i) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, block.i_end - i));
      ATile at{buffers.a.get(), 1, kRows};
      ALayout layout = ALayout::packed;
      if (transposed_a_in_place(p.a, rows, panels, packed_a)) {
        at = {.a = p.a.data + k0 * p.a.ld + i, .row = 1, .step = p.a.ld};
        layout = ALayout::steps;
      } else if (reads_a_in_place(p.a, rows)) {
        at = {p.a.data + i * p.a.ld + k0, p.a.ld, 1,
              i + 2 * kRows <= block.i_end ? p.a.data + (i + kRows) * p.a.ld + k0 : nullptr};
        layout = ALayout::rows;
      } else if (packed_a != nullptr)
        at.a = packed_a + (i / kRows * slice_count(p.shape.k) + k0 / kDepth) * kPanelFloats;
      else
        pack_a(p.a, i, rows, k0, depth, buffers.a.get());  // (only a block's last tile)
      const int64_t row = i * p.shape.ldc;
      return Tile{
          at, layout,
          Store{.c = p.c + row,
                .ldc = p.shape.ldc,
                .rows = rows,
                .segment_at = {},
                .segment_mask = {},
                .alpha = p.alpha,
                .c_scale = c_scale,
                .bias = last_slice && p.epilogue.bias != nullptr ? p.epilogue.bias + i : nullptr,
                .relu = last_slice && p.epilogue.relu,
                .mask = last_slice && p.epilogue.relu_mask != nullptr ? p.epilogue.relu_mask + row
                                                                      : nullptr,
                .addend =
                    last_slice && p.epilogue.addend != nullptr ? p.epilogue.addend + row : nullptr,
                .stream = c_scale == 0.0f && last_slice &&
                          p.batch.batch * std::max(p.batch.c_stride, p.shape.m * p.shape.ldc) *
                                  int64_t(sizeof(float)) >=
                              kStreamBytes}};
    };
    const auto run_panel = [&](Tile& tile, int64_t q) {
      const int64_t vectors = stored_width(panels.width[q]) / kLanes;
      panel_segments(p, panels, q, tile.out);
      if (q == 1) tile.at.next = nullptr;  // fetched during the first panel
      const MicroKernel kernel =
          micro_kernel_for(b_in_place, tile.layout, vectors, tile.out.segment_mask[vectors - 1][0]);
      if (b_in_place)
        kernel(depth, tile.at, b_rows.at(panels.image[q], k0, panels.start[q]), b_rows.ld,
               tile.out);
      else
        kernel(depth, tile.at, packed + panels.offset[q] * depth, 0, tile.out);
    };
    const auto run_tails = [&](const Tile& tile) {
      for (int64_t q = 0; q < panels.tails; ++q) {
        float sums[kMaxTailColumns * kRows];
        tail_sums(depth, tile.at, buffers.tails.get() + q * kMaxTailColumns * depth,
                  panels.tail_width[q], sums);
        store_tail(tile.out, panels.tail_image[q] * p.batch.c_stride + panels.tail_start[q],
                   panels.tail_width[q], sums);
      }
    };
    // A short slice's tiles sweep the panels in groups of kGroupTiles row tiles, panel after
    // panel, so that a panel of B (48 x depth) is read from L1 by every tile of the group, whose
    // A (kGroupTiles x 8 x depth) stays there too; a longer slice's panel fills L1 by itself, so
    // each row tile keeps its A in L1 and sweeps the panels. (Grouped tiles need A in place or
    // packed beforehand: only a plain A's partial last tile is packed here, into the one buffer.)
    const bool a_ready = !p.a.transposed || packed_a != nullptr;
    const int64_t group = depth <= kGroupDepth && a_ready ? kGroupTiles * kRows : kRows;
    for (int64_t i0 = block.i_begin; i0 < block.i_end; i0 += group) {
      Tile tiles[kGroupTiles];
      int64_t count = 0;
      for (int64_t i = i0; i < std::min(block.i_end, i0 + group); i += kRows)
        tiles[count++] = tile_at(i);
      for (int64_t q = 0; q < panels.count; ++q)
        for (int64_t t = 0; t < count; ++t) run_panel(tiles[t], q);
      for (int64_t t = 0; t < count; ++t) run_tails(tiles[t]);
    }
  }
  _mm_sfence();  // streamed stores are weakly ordered: visible before the task reports done
}

// Packs every panel of A that is not read in place (a transposed A's, and a plain A's last
// tile when it has fewer than kRows rows), all k slices, in parallel: for products of several
// column blocks, each of which would otherwise pack the same panels again.
void pack_all_a(const Product& p, bool parallel, float* packed_a) {
  const int64_t tiles = (p.shape.m + kRows - 1) / kRows, slices = slice_count(p.shape.k);
  auto pack_tile = [&](int64_t tile) {
    const int64_t i = tile * kRows;
    const int rows = static_cast<int>(std::min<int64_t>(kRows, p.shape.m - i));
    if (reads_a_in_place(p.a, rows)) return;
    for (int64_t s = 0; s < slices; ++s)
      pack_a(p.a, i, rows, s * kDepth, std::min(kDepth, p.shape.k - s * kDepth),
             packed_a + (tile * slices + s) * kPanelFloats);
  };
  if (parallel)
    parallel_tasks(tiles, pack_tile);
  else
    for (int64_t tile = 0; tile < tiles; ++tile) pack_tile(tile);
}

// How the columns are cut into blocks: images with at most kBlockColumns columns share blocks
// (as many whole images as the packing buffer holds), wider ones are cut into column blocks.
struct BlockPlan {
  int64_t images_per_block, column_blocks, blocks;

  // Block `index`, all rows.
  Block block(int64_t index, const GemmArgs& args, int64_t batch) const {
    const int64_t first_image = index / column_blocks * images_per_block;
    const int64_t j_begin = index % column_blocks * kBlockColumns;
    return {.i_begin = 0,
            .i_end = args.m,
            .first_image = first_image,
            .images = std::min(images_per_block, batch - first_image),
            .j_begin = j_begin,
            .j_end = std::min(args.n, j_begin + kBlockColumns)};
  }
};

BlockPlan plan_blocks(int64_t n, int64_t batch, bool straddle) {
  BlockPlan plan{1, (n + kBlockColumns - 1) / kBlockColumns, 0};
  if (straddle) {
    // As few blocks as kStraddleColumns allows, their images shared out evenly: each block
    // streams all of A (layer4's weights are 2-9 MB), and a batch of eight 7 x 7 maps (392
    // columns) had run as blocks of 7 and 1, the second reading all of A for 49 columns.
    // bench_conv2d at batch 8 (3 interleaved rounds, ms): layer4's downsample backward 4.95-5.08
    // -> 4.18-4.19, forward 4.06-4.12 -> 3.88-3.89, its 1x1 forward 1.86-1.89 -> 1.77, backward
    // 2.10-2.14 -> 2.00; the same blocks count, balanced only, gained nothing. IG-50 in chunks of
    // 12-13 (7 + 6 images either way, or one block of up to 20) within noise.
    const int64_t most = std::clamp<int64_t>(kStraddleColumns / n, 1, batch);
    const int64_t blocks = (batch + most - 1) / most;
    plan.images_per_block = (batch + blocks - 1) / blocks;
  } else if (n < kBlockColumns) {
    Panels one;
    one.add(0, 0, n, true);
    const int64_t fit = std::min(kBlockColumns / one.stored, kMaxPanels / one.count);
    plan.images_per_block = std::clamp<int64_t>(fit, 1, batch);
  }
  plan.blocks = (batch + plan.images_per_block - 1) / plan.images_per_block * plan.column_blocks;
  return plan;
}

}  // namespace

PackedGemmTile packed_gemm_tile() {
  return {kRows, kPanelWidth};
}

bool packed_gemm_applies(const GemmArgs& args) {
  static const bool eigen_requested = [] {
    const char* name = std::getenv("SALIENCY_GEMM");
    return name != nullptr && std::string_view(name) == "eigen";
  }();
  return !eigen_requested && args.m >= kRows && args.n > 0 && args.k > 0;
}

namespace {

void run_product(const Product& p, bool parallel) {
  const GemmArgs& args = p.shape;
  const BatchedColumns& batch = p.batch;
  // Tasks are column blocks. When there are too few for the threads, rows are split too (in
  // whole tiles); B is then packed once, in a parallel pass of its own, for all row groups.
  const bool straddle = straddles(p);
  const BlockPlan plan = plan_blocks(args.n, batch.batch, straddle);
  const int64_t row_tiles = (args.m + kRows - 1) / kRows;
  const bool threads = parallel && args.m * args.n * args.k * batch.batch >= kMinParallelWork;
  const int64_t row_groups =
      threads ? std::clamp<int64_t>((kMinTasks + plan.blocks - 1) / plan.blocks, 1, row_tiles) : 1;
  const int64_t slices = slice_count(args.k);
  // A gathered B is read in place from the gathered rows (packed only to straddle images).
  const bool b_in_place = !straddle && (p.gathered != nullptr || reads_b_in_place(p.b));
  // Row groups share each block's B, packed or gathered once in a pass before them.
  const bool share_packed = row_groups > 1 && !b_in_place;
  const bool share_gathered = row_groups > 1 && b_in_place && p.gathered != nullptr;
  const int64_t gathered_slice =
      share_gathered ? gathered_floats(plan.block(0, args, batch.batch)) : 0;  // the largest
  Scratch<float> shared(share_packed     ? plan.blocks * slices * kSliceFloats
                        : share_gathered ? plan.blocks * slices * gathered_slice
                                         : 0);
  // A transposed A is packed once for all column blocks (a pointwise convolution's backward over
  // a 56 x 56 map has nine at batch 1, 131 at batch 16), not once per block.
  const bool prepack_a = args.transpose_a && plan.blocks > 1;
  Scratch<float> packed_a(prepack_a ? row_tiles * slices * kPanelFloats : 0);
  if (prepack_a) pack_all_a(p, threads, packed_a.data());
  if (share_packed || share_gathered)
    parallel_tasks(plan.blocks * slices, [&](int64_t t) {
      const int64_t k0 = t % slices * kDepth, depth = std::min(kDepth, args.k - k0);
      const Block block = plan.block(t / slices, args, batch.batch);
      if (share_gathered) {
        gather_block(p, block, k0, depth, shared.data() + t * gathered_slice);
        return;
      }
      pack_b_slice(p, rows_of(p), block_panels(block, straddle), k0, depth,
                   shared.data() + t * kSliceFloats);
    });
  auto task = [&](int64_t t) {
    const int64_t index = t % plan.blocks, group = t / plan.blocks;
    Block block = plan.block(index, args, batch.batch);
    block.i_begin = row_tiles * group / row_groups * kRows;
    block.i_end = std::min(args.m, row_tiles * (group + 1) / row_groups * kRows);
    SharedB shared_b;
    if (share_packed) shared_b.packed = shared.data() + index * slices * kSliceFloats;
    if (share_gathered)
      shared_b = {.gathered = shared.data() + index * slices * gathered_slice,
                  .gathered_slice = gathered_slice};
    run_block(p, block, shared_b, prepack_a ? packed_a.data() : nullptr, b_in_place);
  };
  if (threads)
    parallel_tasks(plan.blocks * row_groups, task);
  else
    for (int64_t t = 0; t < plan.blocks * row_groups; ++t) task(t);
}

}  // namespace

void packed_gemm(const GemmArgs& args, const BatchedColumns& batch, float alpha, const float* a,
                 const float* b, float beta, float* c, bool parallel, RowEpilogue<float> epilogue) {
  SALIENCY_ASSERT(args.k > 0 && batch.batch > 0, "packed gemm: k and batch must be positive");
  if (args.m == 0 || args.n == 0) return;
  run_product({args,
               batch,
               {a, args.lda, args.transpose_a},
               {b, args.ldb, args.transpose_b},
               alpha,
               beta,
               c,
               epilogue},
              parallel);
}

void packed_gemm_gathered(const GemmArgs& args, const BatchedColumns& batch, const float* a,
                          const GatheredB& b, float* c, bool parallel,
                          RowEpilogue<float> epilogue) {
  SALIENCY_ASSERT(args.k > 0 && batch.batch > 0 && !args.transpose_b,
                  "packed gemm: k and batch must be positive, a gathered B plain");
  if (args.m == 0 || args.n == 0) return;
  run_product({args,
               batch,
               {a, args.lda, args.transpose_a},
               {nullptr, 0, false},
               1.0f,
               0.0f,
               c,
               epilogue,
               &b},
              parallel);
}

}  // namespace saliency::kernels::cpu

#else  // neither AVX-512 nor AVX2: Eigen serves every product

namespace saliency::kernels::cpu {

PackedGemmTile packed_gemm_tile() {
  return {};
}

bool packed_gemm_applies(const GemmArgs&) {
  return false;
}

void packed_gemm(const GemmArgs&, const BatchedColumns&, float, const float*, const float*, float,
                 float*, bool, RowEpilogue<float>) {
  SALIENCY_ASSERT(false, "packed gemm: built without AVX-512 or AVX2");
}

void packed_gemm_gathered(const GemmArgs&, const BatchedColumns&, const float*, const GatheredB&,
                          float*, bool, RowEpilogue<float>) {
  SALIENCY_ASSERT(false, "packed gemm: built without AVX-512 or AVX2");
}

}  // namespace saliency::kernels::cpu

#endif
