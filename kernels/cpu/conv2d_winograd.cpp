#include "kernels/cpu/conv2d_winograd.h"

#include "core/error.h"

#include "kernels/cpu/simd.h"

#if defined(SALIENCY_SIMD)

#include <algorithm>

#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

using simd::kLanes;  // channels travel in groups of a vector's lanes: 16 (AVX-512) or 8 (AVX2)
using simd::Lanes;
using simd::Vec;

constexpr int kPoints = 36;  // a 6x6 input tile, transformed
// Tiles transformed, multiplied and transformed back together: the 36 products then read each
// U[e] once per block (U of a 512-channel layer is 38 MB), and V[e] of a block (96 x channels)
// stays in L2 while U[e] streams past it.
constexpr int64_t kBlockTiles = 96;
// The product's register tile: kTileRows tiles by kTileVectors vectors of target channels, 24
// accumulators with AVX-512's 32 registers, 12 with AVX2's 16 (the packed GEMM's 6 x 2 shape).
constexpr int kTileRows = 6;
constexpr int kTileVectors = kLanes == 16 ? 4 : 2;
// Floats per 64-byte cache line.
constexpr int64_t kLineFloats = 16;

int64_t round_up(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// One correlation of a [channels, height, width] source with a 3x3 kernel, zero-padded by
// (pad_h, pad_w), into a [out_channels, out_h, out_w] target, for every image of a batch.
// Channels are padded to multiples of kLanes in the transformed data (the padding holds zeros).
struct Correlation3x3 {
  int64_t batch, channels, height, width, pad_h, pad_w, out_channels, out_h, out_w;
  int64_t tiles_h() const { return (out_h + 3) / 4; }
  int64_t tiles_w() const { return (out_w + 3) / 4; }
  // A row of source in NHWC with its zero border, wide enough for every tile.
  int64_t padded_w() const { return 4 * tiles_w() + 2; }
  int64_t source_stride() const { return round_up(channels, kLanes); }
  int64_t target_stride() const { return round_up(out_channels, kLanes); }
};

// ---------------------------------------------------------------------------------------------
// The three transforms, each applied to six (or four) vectors whose lanes are kLanes channels.

// B^T d for a column of six input values.
inline void input_transform(const Vec d[6], Vec r[6]) {
  const Vec two = simd::broadcast(2.0f), four = simd::broadcast(4.0f), five = simd::broadcast(5.0f);
  r[0] = simd::fmadd(four, d[0], simd::fnmadd(five, d[2], d[4]));
  r[1] = simd::fnmadd(four, simd::add(d[1], d[2]), simd::add(d[3], d[4]));
  r[2] = simd::fmadd(four, simd::sub(d[1], d[2]), simd::sub(d[4], d[3]));
  const Vec odd = simd::sub(d[3], d[1]), even = simd::sub(d[4], d[2]);
  r[3] = simd::fmadd(two, odd, even);
  r[4] = simd::fnmadd(two, odd, even);
  r[5] = simd::fmadd(four, d[1], simd::fnmadd(five, d[3], d[5]));
}

// G g for a column of three kernel taps.
inline void filter_transform(const Vec g[3], Vec u[6]) {
  const Vec sum = simd::add(g[0], g[2]);
  const Vec minus_sixth = simd::broadcast(-1.0f / 6.0f);
  u[0] = simd::mul(simd::broadcast(0.25f), g[0]);
  u[1] = simd::mul(minus_sixth, simd::add(sum, g[1]));
  u[2] = simd::mul(minus_sixth, simd::sub(sum, g[1]));
  const Vec outer = simd::fmadd(simd::broadcast(1.0f / 24.0f), g[0],
                                simd::mul(simd::broadcast(1.0f / 6.0f), g[2]));
  const Vec middle = simd::mul(simd::broadcast(1.0f / 12.0f), g[1]);
  u[3] = simd::add(outer, middle);
  u[4] = simd::sub(outer, middle);
  u[5] = g[2];
}

// A^T m for a column of six products.
inline void output_transform(const Vec m[6], Vec y[4]) {
  const Vec plus12 = simd::add(m[1], m[2]), minus12 = simd::sub(m[1], m[2]);
  const Vec plus34 = simd::add(m[3], m[4]), minus34 = simd::sub(m[3], m[4]);
  y[0] = simd::add(simd::add(m[0], plus12), plus34);
  y[1] = simd::fmadd(simd::broadcast(2.0f), minus34, minus12);
  y[2] = simd::fmadd(simd::broadcast(4.0f), plus34, plus12);
  y[3] = simd::add(simd::fmadd(simd::broadcast(8.0f), minus34, minus12), m[5]);
}

// Consecutive points of a transform (of a kernel, or of a tile in V and M) are stored a point's
// size plus one line apart: at a multiple of 4 KB apart all 36 loads or stores of one transform
// land in the same L1 set (12 ways), which evicted them as they were written. With the extra
// line, a 14 x 14 layer at batch 1 (bench_conv2d, layer3's 3x3, the kernels' points padded) ran
// 0.61 -> 0.32 ms forward, 0.59 -> 0.32 backward.
constexpr int64_t kPointPad = kLineFloats;

// V[e + 1] - V[e] (M's likewise) for `tiles` tiles of `channels` (padded to kLanes) floats.
// Padded too: layer3's 3x3 at batch 1 0.33 -> 0.30 ms both ways, layer4's backward at batch 8
// 2.9 -> 2.7, others within 1-3% (min of 3-5 interleaved).
inline int64_t tile_point_stride(int64_t tiles, int64_t channels) {
  return tiles * channels + kPointPad;
}

// ---------------------------------------------------------------------------------------------
// Weights: U[e][g][c][kLanes] = (G w_kc G^T)[e] for target k = kLanes g + lane; zero
// for padded channels. w_kc is weight[k][c] as stored, or for the backward pass weight[c][k]
// rotated by 180 degrees. Grouped by kLanes targets so that both this transform (sources innermost)
// and the product write and read each point's U as sequential streams: with U[e][c][k] every
// store went to a new cache line 4 KB or more from the last, and building U took more than half
// of a 14x14 layer's time at batch 1.
// Lane k of tap t of source c is weight[kernel(c) + k * lane_stride + tap(t)].
int64_t weight_lane_stride(const Correlation3x3& p, bool rotate_and_swap) {
  return rotate_and_swap ? 9 : p.channels * 9;
}

// Tap t of the `live` targets whose nine taps are runs `lane_stride` apart from `kernel`, one
// vector per tap (zero in lanes past `live`): the runs are loaded and transposed. With 8 lanes
// (AVX2) a run's ninth tap is past the vector and is collected on its own.
inline void load_taps(const float* kernel, int64_t lane_stride, int64_t live, Vec (&taps)[9]) {
  constexpr int kInVector = kLanes >= 9 ? 9 : kLanes;
  Vec runs[kLanes];  // target j's taps, then (transposed) tap t of every target
  for (int j = 0; j < kLanes; ++j)
    runs[j] = j >= live ? simd::zero()
              : kInVector == kLanes
                  ? simd::loadu(kernel + j * lane_stride)
                  : simd::load_lanes(simd::first_lanes(kInVector), kernel + j * lane_stride);
  simd::transpose(runs);
  for (int t = 0; t < kInVector; ++t) taps[t] = runs[t];
  if constexpr (kInVector < 9) {
    float ninth[kLanes] = {};
    for (int j = 0; j < live; ++j) ninth[j] = kernel[j * lane_stride + 8];
    taps[8] = simd::loadu(ninth);
  }
}

// The 36 points of the kernels from source c to targets k..k + kLanes - 1, point e stored at
// out + e * point_stride. Each target's nine taps are one run of the weights: kLanes runs are
// loaded and transposed into one vector per tap (load_taps). (A gather per tap took 42% of a 14
// x 14 layer's time at batch 1, where the kernels are transformed for every call.)
inline void transform_kernels(const Correlation3x3& p, const float* weight, bool rotate_and_swap,
                              int64_t lane_stride, int64_t c, int64_t k, float* out,
                              int64_t point_stride) {
  const int64_t live = c < p.channels ? std::min<int64_t>(kLanes, p.out_channels - k) : 0;
  const float* kernel =
      rotate_and_swap ? weight + (c * p.out_channels + k) * 9 : weight + (k * p.channels + c) * 9;
  // At batch 1 the weights come from memory (a pass reads 100 MB of them): fetch the taps of a
  // source a few calls ahead, in the order the calls read them (the forward walks 16 targets'
  // runs side by side, each 36 bytes a call; the backward one source's run of 16 targets a call).
  // 14 x 14 at batch 1 with weights from memory (min of 4-5 interleaved): forward 0.36-0.38 ->
  // 0.30 ms, backward 0.33 -> 0.32; 7 x 7 at batch 2 0.90 / 1.10 -> 0.72 / 1.00.
  constexpr int64_t kForwardAhead = 16, kBackwardAhead = 8;  // sources
  if (!rotate_and_swap) {
    for (int j = 0; j < live; ++j)
      _mm_prefetch(reinterpret_cast<const char*>(kernel + j * lane_stride + kForwardAhead * 9),
                   _MM_HINT_T0);
  } else if (c + kBackwardAhead < p.channels) {
    const float* ahead = kernel + kBackwardAhead * p.out_channels * 9;
    for (int64_t at = 0; at < live * 9; at += kLineFloats)
      _mm_prefetch(reinterpret_cast<const char*>(ahead + at), _MM_HINT_T0);
  }
  Vec by_index[9];
  load_taps(kernel, lane_stride, live, by_index);
  Vec taps[3][3];
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x)
      taps[y][x] = by_index[rotate_and_swap ? (2 - y) * 3 + (2 - x) : y * 3 + x];
  Vec rows[6][3];  // G g, column by column
  for (int x = 0; x < 3; ++x) {
    const Vec column[3] = {taps[0][x], taps[1][x], taps[2][x]};
    Vec transformed[6];
    filter_transform(column, transformed);
    for (int i = 0; i < 6; ++i) rows[i][x] = transformed[i];
  }
  for (int i = 0; i < 6; ++i) {  // (G g) G^T, row by row
    Vec transformed[6];
    filter_transform(rows[i], transformed);
    for (int j = 0; j < 6; ++j) simd::storeu(out + (6 * i + j) * point_stride, transformed[j]);
  }
}

int64_t u_point_stride(const Correlation3x3& p) {
  return p.source_stride() * p.target_stride() + kPointPad;
}

void transform_weights(const Correlation3x3& p, const float* weight, bool rotate_and_swap,
                       float* u) {
  const int64_t sources = p.source_stride(), targets = p.target_stride(), groups = targets / kLanes;
  const int64_t lane_stride = weight_lane_stride(p, rotate_and_swap);
  // The backward's kernels from one source to all targets are one run of the weights (the
  // forward's are a run per target): sources outermost then read the weights front to back
  // rather than a few hundred bytes every 9 KB or more (layer4's 3x3 backward at batch 8 with
  // Winograd 3.0 -> 2.5 ms, min of 5 interleaved).
  if (rotate_and_swap) {
    parallel_for(0, sources, grain_for(targets * kPoints), [&](int64_t lo, int64_t hi) {
      for (int64_t c = lo; c < hi; ++c)
        for (int64_t g = 0; g < groups; ++g)
          transform_kernels(p, weight, rotate_and_swap, lane_stride, c, g * kLanes,
                            u + (g * sources + c) * kLanes, u_point_stride(p));
    });
    return;
  }
  // By groups of kLanes targets, sources innermost: consecutive sources' loads then read the
  // same kLanes cache lines (a source-major order missed L2 on every load).
  parallel_for(0, groups, grain_for(sources * kPoints * kLanes), [&](int64_t lo, int64_t hi) {
    for (int64_t g = lo; g < hi; ++g)
      for (int64_t c = 0; c < sources; ++c)
        transform_kernels(p, weight, rotate_and_swap, lane_stride, c, g * kLanes,
                          u + (g * sources + c) * kLanes, u_point_stride(p));
  });
}

// ---------------------------------------------------------------------------------------------
// A block is a run of the batch's rows of tiles (row R: image R / tiles_h, tile row R % tiles_h).
// Its source rows, its transformed tiles and its result rows stay in cache from one step to the
// next: the full-size NHWC copies of source and result went through memory.
struct Block {
  int64_t first_row, rows;
  int64_t tiles(const Correlation3x3& p) const { return rows * p.tiles_w(); }
};

// The six source rows of each of the block's tile rows, NCHW -> NHWC with the zero border:
// padded[r][i][x][c] (x over padded_w, channels padded to kLanes). Neighbouring tile rows share two
// source rows, copied for each. Each group of kLanes channels fetches the next group's rows: at
// batch 16 the source comes from memory, and the layer (harness with activations from memory, 2
// threads, Zen 5, forward / backward ms) went 7.3 / 7.4 -> 5.4 / 5.2 over 56 x 56, 5.1 / 5.4 ->
// 4.2 / 4.2 over 28 x 28, 5.8 / 5.9 -> 5.2 / 5.1 over 14 x 14, 5.3 -> 5.1 over 7 x 7, with
// unpack_target fetching likewise.
void pack_source(const Correlation3x3& p, const float* source, const Block& block, float* padded) {
  const int64_t columns = p.padded_w(), stride = p.source_stride();
  parallel_for(0, block.rows * 6, grain_for(columns * stride), [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t row = block.first_row + item / 6;
      const int64_t n = row / p.tiles_h(), y = 4 * (row % p.tiles_h()) + item % 6 - p.pad_h;
      float* out = padded + item * columns * stride;
      if (y < 0 || y >= p.height) {
        std::fill_n(out, columns * stride, 0.0f);
        continue;
      }
      std::fill_n(out, p.pad_w * stride, 0.0f);
      const int64_t right = p.pad_w + p.width;
      std::fill(out + right * stride, out + columns * stride, 0.0f);
      for (int64_t c = 0; c < stride; c += kLanes) {
        // The next group's rows (a plane apart each: too many streams for the hardware
        // prefetchers, and from memory at batch 16).
        for (int64_t i = c + kLanes; i < std::min(c + 2 * kLanes, p.channels); ++i)
          prefetch_run(source + ((n * p.channels + i) * p.height + y) * p.width,
                       p.width * int64_t(sizeof(float)));
        for (int64_t x = 0; x < p.width; x += kLanes) {
          const Lanes in_row = simd::first_lanes(p.width - x);
          Vec lanes[kLanes];
          for (int i = 0; i < kLanes; ++i)
            lanes[i] =
                c + i < p.channels
                    ? simd::load_lanes(
                          in_row, source + ((n * p.channels + c + i) * p.height + y) * p.width + x)
                    : simd::zero();
          simd::transpose(lanes);
          const int64_t count = std::min<int64_t>(kLanes, p.width - x);
          for (int64_t j = 0; j < count; ++j)
            simd::storeu(out + (p.pad_w + x + j) * stride + c, lanes[j]);
        }
      }
    }
  });
}

// fn(t, r, tx, c) for each of the block's tiles t (tile row r = t / tiles_w, column tx) and each
// group of kLanes channels c of a `stride`-channel layout, shared out over the threads.
template <typename Fn>
void for_each_tile_and_group(const Correlation3x3& p, const Block& block, int64_t stride,
                             const Fn& fn) {
  const int64_t groups = stride / kLanes;
  parallel_for(0, block.tiles(p) * groups, grain_for(kPoints * kLanes * 8),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t item = lo; item < hi; ++item) {
                   const int64_t t = item / groups;
                   fn(t, t / p.tiles_w(), t % p.tiles_w(), item % groups * kLanes);
                 }
               });
}

// V[e][t][c] for the block's tiles t: (B^T d B)[e] of each 6x6 tile d.
void transform_input(const Correlation3x3& p, const float* padded, const Block& block, float* v) {
  const int64_t stride = p.source_stride(), columns = p.padded_w();
  const int64_t point = tile_point_stride(block.tiles(p), stride);  // V[e + 1] - V[e]
  for_each_tile_and_group(p, block, stride, [&](int64_t t, int64_t r, int64_t tx, int64_t c) {
    const float* d = padded + (r * 6 * columns + 4 * tx) * stride + c;
    Vec rows[6][6];  // B^T d, column by column
    for (int x = 0; x < 6; ++x) {
      Vec column[6];
      for (int y = 0; y < 6; ++y) column[y] = simd::loadu(d + (y * columns + x) * stride);
      Vec transformed[6];
      input_transform(column, transformed);
      for (int i = 0; i < 6; ++i) rows[i][x] = transformed[i];
    }
    float* out = v + t * stride + c;
    for (int i = 0; i < 6; ++i) {  // (B^T d) B, row by row
      Vec transformed[6];
      input_transform(rows[i], transformed);
      for (int j = 0; j < 6; ++j) simd::storeu(out + (6 * i + j) * point, transformed[j]);
    }
  });
}

// One register tile of a product: M[t][k..] (+)= sum over c of V[t][c] U[c][k..] for Rows tiles
// and Vectors groups of kLanes targets (group j's U at u + j * u_stride, kLanes floats per c), c in
// order, so each value's sum does not depend on the other tiles of its block. With `accumulate`
// the sums continue from M's values: a product over consecutive runs of c gives the same bits
// as one over all of them.
struct TileProduct {
  const float* v;
  int64_t v_stride;
  const float* u;
  int64_t u_stride, depth;
  float* m;
  int64_t m_stride;
  bool accumulate;
};

template <int Rows, int Vectors>
void multiply_tile(const TileProduct& t) {
  Vec sum[Rows][Vectors];
  for (int r = 0; r < Rows; ++r)
    for (int j = 0; j < Vectors; ++j)
      sum[r][j] = t.accumulate ? simd::loadu(t.m + r * t.m_stride + j * kLanes) : simd::zero();
  for (int64_t c = 0; c < t.depth; ++c) {
    Vec b[Vectors];
    for (int j = 0; j < Vectors; ++j) b[j] = simd::loadu(t.u + j * t.u_stride + c * kLanes);
    for (int r = 0; r < Rows; ++r) {
      const Vec a = simd::broadcast(t.v[r * t.v_stride + c]);
      for (int j = 0; j < Vectors; ++j) sum[r][j] = simd::fmadd(a, b[j], sum[r][j]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int j = 0; j < Vectors; ++j) simd::storeu(t.m + r * t.m_stride + j * kLanes, sum[r][j]);
}

template <int Rows, int Vectors = kTileVectors>
void multiply_tile_rows(int vectors, const TileProduct& t) {
  if constexpr (Vectors > 1)
    if (vectors < Vectors) return multiply_tile_rows<Rows, Vectors - 1>(vectors, t);
  multiply_tile<Rows, Vectors>(t);
}

void multiply_any_tile(int rows, int vectors, const TileProduct& t) {
  switch (rows) {
    case 1:
      return multiply_tile_rows<1>(vectors, t);
    case 2:
      return multiply_tile_rows<2>(vectors, t);
    case 3:
      return multiply_tile_rows<3>(vectors, t);
    case 4:
      return multiply_tile_rows<4>(vectors, t);
    case 5:
      return multiply_tile_rows<5>(vectors, t);
    default:
      return multiply_tile_rows<6>(vectors, t);
  }
}

// M[e][t][k..k + kLanes vectors) for every point e and the block's `count` tiles, sources [first,
// first + depth), from U laid out as u + e * u_point + j * u_stride + c * kLanes.
void multiply_slab(const float* u, int64_t u_point, int64_t u_stride, int vectors, const float* v,
                   int64_t sources, int64_t first, int64_t depth, int64_t count, int64_t targets,
                   int64_t k, float* m, int64_t e) {
  for (int64_t t = 0; t < count; t += kTileRows)
    multiply_any_tile(int(std::min<int64_t>(kTileRows, count - t)), vectors,
                      {.v = v + e * tile_point_stride(count, sources) + t * sources + first,
                       .v_stride = sources,
                       .u = u + e * u_point,
                       .u_stride = u_stride,
                       .depth = depth,
                       .m = m + e * tile_point_stride(count, targets) + t * targets + k,
                       .m_stride = targets,
                       .accumulate = first > 0});
}

// M[e] [count x targets] = V[e] [count x sources] U[e] [sources x targets] for the 36 points;
// tasks are (point, 64 targets), each running down the block's tiles while its U slab stays in L2.
void multiply(const Correlation3x3& p, const float* u, const float* v, int64_t count, float* m) {
  const int64_t sources = p.source_stride(), targets = p.target_stride();
  const int64_t slabs = (targets + kTileVectors * kLanes - 1) / (kTileVectors * kLanes);
  parallel_tasks(kPoints * slabs, [&](int64_t task) {
    const int64_t e = task / slabs, k = task % slabs * kTileVectors * kLanes;
    const int vectors = int(std::min<int64_t>(kTileVectors, (targets - k) / kLanes));
    multiply_slab(u + k * sources, u_point_stride(p), sources * kLanes, vectors, v, sources, 0,
                  sources, count, targets, k, m, e);
  });
}

// The same product for a batch of one block, the weights transformed as it goes: each task
// takes a slab of targets and, a run of kSourceRun sources at a time, transforms those kernels
// into a buffer that stays in L2 and multiplies all 36 points by it. U (out x in x 36 floats,
// 38 MB for ResNet-50's layer4) is then never written out; for the few tiles of a small batch
// writing and reading it back cost more than the product.
void multiply_transforming(const Correlation3x3& p, const float* weight, bool rotate_and_swap,
                           const float* v, int64_t count, float* m) {
  constexpr int64_t kSourceRun = 64;
  const int64_t sources = p.source_stride(), targets = p.target_stride();
  int vectors = kTileVectors;  // per slab: halved until both threads have two slabs or more
  while (vectors > 1 && targets / (vectors * kLanes) < 2 * num_threads()) vectors /= 2;
  const int64_t width = vectors * kLanes, slabs = (targets + width - 1) / width;
  const int64_t lane_stride = weight_lane_stride(p, rotate_and_swap);
  parallel_tasks(slabs, [&](int64_t slab) {
    const int64_t k = slab * width;
    const int live = int(std::min<int64_t>(vectors, (targets - k) / kLanes));
    // [e][j][c - first][kLanes], points kPointPad further apart than their size (see there)
    const int64_t u_point = vectors * kSourceRun * kLanes + kPointPad;
    const int64_t u_stride = kSourceRun * kLanes;
    Scratch<float> run(kPoints * u_point);
    for (int64_t first = 0; first < sources; first += kSourceRun) {
      const int64_t depth = std::min(kSourceRun, sources - first);
      const auto transform = [&](int64_t c, int j) {
        transform_kernels(p, weight, rotate_and_swap, lane_stride, c, k + j * kLanes,
                          run.data() + (j * kSourceRun + c - first) * kLanes, u_point);
      };
      // Sources outermost for the backward, as in transform_weights (cold weights, layer3's 3x3
      // backward at batch 1: 0.70 -> 0.60 ms).
      if (rotate_and_swap) {
        for (int64_t c = first; c < first + depth; ++c)
          for (int j = 0; j < live; ++j) transform(c, j);
      } else {
        for (int j = 0; j < live; ++j)
          for (int64_t c = first; c < first + depth; ++c) transform(c, j);
      }
      for (int64_t e = 0; e < kPoints; ++e)
        multiply_slab(run.data(), u_point, u_stride, live, v, sources, first, depth, count, targets,
                      k, m, e);
    }
  });
}

// The block's 4x4 output tiles, A^T M A, into out[r][i][x][k] (4 rows a tile row, 4 * tiles_w
// wide, NHWC).
void transform_output(const Correlation3x3& p, const float* m, const Block& block, float* out) {
  const int64_t stride = p.target_stride(), columns = 4 * p.tiles_w();
  const int64_t point = tile_point_stride(block.tiles(p), stride);  // M[e + 1] - M[e]
  for_each_tile_and_group(p, block, stride, [&](int64_t t, int64_t r, int64_t tx, int64_t k) {
    const float* in = m + t * stride + k;
    Vec rows_of_columns[4][6];  // A^T m, column by column
    for (int x = 0; x < 6; ++x) {
      Vec column[6];
      for (int y = 0; y < 6; ++y) column[y] = simd::loadu(in + (6 * y + x) * point);
      Vec transformed[4];
      output_transform(column, transformed);
      for (int i = 0; i < 4; ++i) rows_of_columns[i][x] = transformed[i];
    }
    float* target = out + (r * 4 * columns + 4 * tx) * stride + k;
    for (int i = 0; i < 4; ++i) {  // (A^T m) A, row by row
      Vec transformed[4];
      output_transform(rows_of_columns[i], transformed);
      for (int j = 0; j < 4; ++j) simd::storeu(target + (i * columns + j) * stride, transformed[j]);
    }
  });
}

// The block's result rows, NHWC -> the NCHW target, with the epilogue in RowEpilogue's order:
// bias, addend, ReLU, mask.
void unpack_target(const Correlation3x3& p, const float* out, const Block& block,
                   const RowEpilogue<float>& epilogue, float* target) {
  const int64_t stride = p.target_stride(), columns = 4 * p.tiles_w();
  const int64_t plane = p.out_h * p.out_w;
  parallel_for(0, block.rows * 4, grain_for(p.out_w * stride), [&](int64_t lo, int64_t hi) {
    for (int64_t item = lo; item < hi; ++item) {
      const int64_t row = block.first_row + item / 4;
      const int64_t n = row / p.tiles_h(), y = 4 * (row % p.tiles_h()) + item % 4;
      if (y >= p.out_h) continue;
      const float* in = out + item * columns * stride;
      const int64_t bytes = p.out_w * int64_t(sizeof(float));
      for (int64_t k = 0; k < p.out_channels; k += kLanes) {
        // The next group's rows of the target (to be written), addend and mask, as in
        // pack_source.
        for (int64_t i = k + kLanes; i < std::min(k + 2 * kLanes, p.out_channels); ++i) {
          const int64_t at = (n * p.out_channels + i) * plane + y * p.out_w;
          prefetch_run(target + at, bytes, true);
          if (epilogue.addend != nullptr) prefetch_run(epilogue.addend + at, bytes);
          if (epilogue.relu_mask != nullptr) prefetch_run(epilogue.relu_mask + at, bytes);
        }
        for (int64_t x = 0; x < p.out_w; x += kLanes) {
          const int64_t count = std::min<int64_t>(kLanes, p.out_w - x);
          Vec lanes[kLanes];
          for (int j = 0; j < kLanes; ++j)
            lanes[j] = j < count ? simd::loadu(in + (x + j) * stride + k) : simd::zero();
          simd::transpose(lanes);
          const Lanes live = simd::first_lanes(count);
          const int64_t channels = std::min<int64_t>(kLanes, p.out_channels - k);
          for (int64_t i = 0; i < channels; ++i) {
            const int64_t at = (n * p.out_channels + k + i) * plane + y * p.out_w + x;
            Vec value = lanes[i];
            if (epilogue.bias != nullptr)
              value = simd::add(value, simd::broadcast(epilogue.bias[k + i]));
            if (epilogue.addend != nullptr)
              value = simd::add(value, simd::load_lanes(live, epilogue.addend + at));
            if (epilogue.relu) value = simd::relu(value);  // NaN and -0 -> 0, as relu_forward
            if (epilogue.relu_mask != nullptr)
              value =
                  simd::keep_where_positive(simd::load_lanes(live, epilogue.relu_mask + at), value);
            simd::store_lanes(target + at, live, value);
          }
        }
      }
    }
  });
}

// Blocks of tile rows run across the whole batch: a tile's values do not depend on which others
// share its block (every sum runs over the source channels in order), so an image's result does
// not depend on the batch it came in. With enough blocks each thread takes whole blocks;
// otherwise the threads share each block's steps.
void run(const Correlation3x3& p, const float* weight, bool rotate_and_swap, const float* source,
         const RowEpilogue<float>& epilogue, float* target) {
  const int64_t sources = p.source_stride(), targets = p.target_stride();
  const int64_t tile_rows = p.batch * p.tiles_h();
  const int64_t wanted = std::max<int64_t>(1, (kBlockTiles + p.tiles_w() / 2) / p.tiles_w());
  const int64_t blocks = (tile_rows + wanted - 1) / wanted;
  const int64_t rows_per_block = (tile_rows + blocks - 1) / blocks;
  // With several blocks U is built once for the call (a cache of U between calls measured
  // slower at batch 1: U, 4x the weights, then comes from memory); with one, as it is used.
  Scratch<float> u(blocks > 1 ? kPoints * u_point_stride(p) : 0);
  if (blocks > 1) transform_weights(p, weight, rotate_and_swap, u.data());
  const auto run_block = [&](int64_t index) {
    const Block block{index * rows_per_block,
                      std::min(rows_per_block, tile_rows - index * rows_per_block)};
    const int64_t tiles = block.tiles(p);
    Scratch<float> padded(block.rows * 6 * p.padded_w() * sources),
        v(kPoints * tile_point_stride(tiles, sources)),
        m(kPoints * tile_point_stride(tiles, targets)),
        out(block.rows * 4 * 4 * p.tiles_w() * targets);
    pack_source(p, source, block, padded.data());
    transform_input(p, padded.data(), block, v.data());
    if (blocks > 1)
      multiply(p, u.data(), v.data(), tiles, m.data());
    else
      multiply_transforming(p, weight, rotate_and_swap, v.data(), tiles, m.data());
    transform_output(p, m.data(), block, out.data());
    unpack_target(p, out.data(), block, epilogue, target);
  };
  if (blocks >= 2 * num_threads()) {
    parallel_tasks(blocks, run_block);  // the steps inside run serially
  } else {
    for (int64_t index = 0; index < blocks; ++index) run_block(index);
  }
}

}  // namespace

bool winograd_conv2d_supports(const Conv2dGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 && g.pad_h >= 0 && g.pad_h <= 2 &&
         g.pad_w >= 0 && g.pad_w <= 2 && g.out_h() > 0 && g.out_w() > 0;
}

bool winograd_conv2d_applies(const Conv2dGeometry& g) {
  // The kernels are transformed for every call (out x in x 36 floats): fewer tiles than this in
  // the whole batch do not repay it. ResNet-50's layers (weights from memory, as in a network
  // pass; min of 4 x 40, ms, direct vs Winograd, forward / backward): 14x14 at batch 1 (16
  // tiles) 0.59 / 0.63 vs 0.30 / 0.29; 7x7 at batch 1 (4 tiles) 0.60 / 0.86 vs 0.56 / 0.54.
  // (Before the transform's point stride was padded (kPointPad) 14x14 at batch 1 only broke
  // even; before it prefetched its weights 7x7 at batch 1 lost: 0.80 / 1.00.)
  constexpr int64_t kMinTiles = 4;
  const int64_t tiles = g.batch * ((g.out_h() + 3) / 4) * ((g.out_w() + 3) / 4);
  return requested_conv_algorithm() == ConvAlgorithmChoice::winograd &&
         !exact_convolutions_required() && winograd_conv2d_supports(g) && tiles >= kMinTiles;
}

void winograd_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             float* output, const RowEpilogue<float>& epilogue) {
  SALIENCY_ASSERT(winograd_conv2d_supports(g), "winograd conv2d: unsupported geometry");
  SALIENCY_ASSERT(epilogue.relu_mask == nullptr, "winograd conv2d: a mask is backward-only");
  const Correlation3x3 p{g.batch, g.in_channels,  g.in_h,    g.in_w,   g.pad_h,
                         g.pad_w, g.out_channels, g.out_h(), g.out_w()};
  run(p, weight, false, input, epilogue, output);
}

void winograd_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input,
                                    const RowEpilogue<float>& epilogue) {
  SALIENCY_ASSERT(winograd_conv2d_supports(g), "winograd conv2d: unsupported geometry");
  SALIENCY_ASSERT(epilogue.bias == nullptr && !epilogue.relu,
                  "winograd conv2d: bias and ReLU are forward-only");
  const Correlation3x3 p{g.batch,     g.out_channels, g.out_h(), g.out_w(), 2 - g.pad_h,
                         2 - g.pad_w, g.in_channels,  g.in_h,    g.in_w};
  run(p, weight, true, grad_output, epilogue, grad_input);
}

}  // namespace saliency::kernels::cpu

#else  // neither AVX-512 nor AVX2: the direct paths serve every convolution

namespace saliency::kernels::cpu {

bool winograd_conv2d_supports(const Conv2dGeometry&) {
  return false;
}

bool winograd_conv2d_applies(const Conv2dGeometry&) {
  return false;
}

void winograd_conv2d_forward(const Conv2dGeometry&, const float*, const float*, float*,
                             const RowEpilogue<float>&) {
  SALIENCY_ASSERT(false, "winograd conv2d: built without AVX-512 or AVX2");
}

void winograd_conv2d_backward_input(const Conv2dGeometry&, const float*, const float*, float*,
                                    const RowEpilogue<float>&) {
  SALIENCY_ASSERT(false, "winograd conv2d: built without AVX-512 or AVX2");
}

}  // namespace saliency::kernels::cpu

#endif
