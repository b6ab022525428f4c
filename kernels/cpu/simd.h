#pragma once
// The float vector of the build's instruction set, for kernels written once for AVX-512 and AVX2
// (the packed GEMM, the implicit convolution's flat tiles, Winograd): 16 lanes in 32 registers, or
// 8 lanes in 16 registers. The build compiles for its own machine (-march=native), so this is a
// choice made at compile time, not a dispatch. Lane masks are bit masks in both (bit l: lane l);
// AVX2 widens them to a vector where it needs one. Loads and stores under a mask touch no memory
// outside it, as the AVX-512 forms. Included by kernel sources only: it is not part of any public
// header.
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

#include <immintrin.h>

#include <cstdint>

#define SALIENCY_SIMD 1

namespace saliency::kernels::cpu::simd {

#define SALIENCY_SIMD_INLINE [[gnu::always_inline]] inline
// A lambda inlined by force (after its parameter list). Registers held across a kernel's loop
// stay in registers only if every lambda that touches them is inlined: with one generic helper
// left out of line, GCC kept a GEMM tile's accumulators in memory through its k loop (2.5x slower).
#define SALIENCY_INLINE_LAMBDA __attribute__((always_inline))

// rows[i][j] -> rows[j][i] for an 8 x 8 block of floats held in 8 AVX vectors (both instruction
// sets: AVX2's transpose below, and conv2d.cpp's weight transposes in either build).
inline void transpose_8x8(__m256 (&rows)[8]) {
  __m256 pair[8];
  for (int i = 0; i < 8; i += 2) {  // interleave rows i and i + 1
    pair[i] = _mm256_unpacklo_ps(rows[i], rows[i + 1]);
    pair[i + 1] = _mm256_unpackhi_ps(rows[i], rows[i + 1]);
  }
  __m256 quad[8];
  for (int h = 0; h < 8; h += 4) {  // then pairs of pairs: four rows' columns together per lane
    quad[h] = _mm256_shuffle_ps(pair[h], pair[h + 2], 0x44);
    quad[h + 1] = _mm256_shuffle_ps(pair[h], pair[h + 2], 0xEE);
    quad[h + 2] = _mm256_shuffle_ps(pair[h + 1], pair[h + 3], 0x44);
    quad[h + 3] = _mm256_shuffle_ps(pair[h + 1], pair[h + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {  // the low 128 bits hold columns 0-3, the high ones 4-7
    rows[j] = _mm256_permute2f128_ps(quad[j], quad[j + 4], 0x20);
    rows[j + 4] = _mm256_permute2f128_ps(quad[j], quad[j + 4], 0x31);
  }
}

#if defined(__AVX512F__)

inline constexpr int kLanes = 16;
using Vec = __m512;
using Lanes = __mmask16;
inline constexpr Lanes kAllLanes = 0xFFFF;

SALIENCY_SIMD_INLINE Vec zero() {
  return _mm512_setzero_ps();
}
SALIENCY_SIMD_INLINE Vec broadcast(float value) {
  return _mm512_set1_ps(value);
}
SALIENCY_SIMD_INLINE Vec load(const float* p) {
  return _mm512_load_ps(p);
}
SALIENCY_SIMD_INLINE Vec loadu(const float* p) {
  return _mm512_loadu_ps(p);
}
// The lanes in `lanes` from p, zero elsewhere.
SALIENCY_SIMD_INLINE Vec load_lanes(Lanes lanes, const float* p) {
  return _mm512_maskz_loadu_ps(lanes, p);
}
// The lanes in `lanes` from p, the rest of `into`.
SALIENCY_SIMD_INLINE Vec load_lanes_into(Vec into, Lanes lanes, const float* p) {
  return _mm512_mask_loadu_ps(into, lanes, p);
}
SALIENCY_SIMD_INLINE void store(float* p, Vec v) {
  _mm512_store_ps(p, v);
}
SALIENCY_SIMD_INLINE void store_lanes(float* p, Lanes lanes, Vec v) {
  _mm512_mask_storeu_ps(p, lanes, v);
}
SALIENCY_SIMD_INLINE void stream(float* p, Vec v) {
  _mm512_stream_ps(p, v);
}
SALIENCY_SIMD_INLINE Vec fmadd(Vec a, Vec b, Vec c) {
  return _mm512_fmadd_ps(a, b, c);
}
SALIENCY_SIMD_INLINE Vec add(Vec a, Vec b) {
  return _mm512_add_ps(a, b);
}
SALIENCY_SIMD_INLINE Vec mul(Vec a, Vec b) {
  return _mm512_mul_ps(a, b);
}
SALIENCY_SIMD_INLINE Vec sub(Vec a, Vec b) {
  return _mm512_sub_ps(a, b);
}
// c - a * b
SALIENCY_SIMD_INLINE Vec fnmadd(Vec a, Vec b, Vec c) {
  return _mm512_fnmadd_ps(a, b, c);
}
SALIENCY_SIMD_INLINE void storeu(float* p, Vec v) {
  _mm512_storeu_ps(p, v);
}
// The even elements of the 2 * kLanes floats [low, high], in order.
SALIENCY_SIMD_INLINE Vec even_lanes(Vec low, Vec high) {
  const __m512i evens =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(low, evens, high);
}
// rows[i][j] -> rows[j][i] for a 16 x 16 block held in 16 vectors.
inline void transpose(Vec (&rows)[kLanes]) {
  // (The masked forms: GCC 12's unmasked ones read an undefined register and warn.)
  constexpr __mmask16 kAll = 0xFFFF;
  __m512 a[16], b[16];
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_maskz_unpacklo_ps(kAll, rows[2 * i], rows[2 * i + 1]);
    a[2 * i + 1] = _mm512_maskz_unpackhi_ps(kAll, rows[2 * i], rows[2 * i + 1]);
  }
  const auto pairs = [](__m512 x, __m512 y, bool high) {
    const __m512d dx = _mm512_castps_pd(x), dy = _mm512_castps_pd(y);
    return _mm512_castpd_ps(high ? _mm512_maskz_unpackhi_pd(0xFF, dx, dy)
                                 : _mm512_maskz_unpacklo_pd(0xFF, dx, dy));
  };
  for (int i = 0; i < 4; ++i) {  // b[4i + q], 128-bit lane l: rows 4i..4i+3 at column 4l + q
    b[4 * i + 0] = pairs(a[4 * i], a[4 * i + 2], false);
    b[4 * i + 1] = pairs(a[4 * i], a[4 * i + 2], true);
    b[4 * i + 2] = pairs(a[4 * i + 1], a[4 * i + 3], false);
    b[4 * i + 3] = pairs(a[4 * i + 1], a[4 * i + 3], true);
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 low01 = _mm512_maskz_shuffle_f32x4(kAll, b[q], b[4 + q], 0x44);
    const __m512 high01 = _mm512_maskz_shuffle_f32x4(kAll, b[q], b[4 + q], 0xEE);
    const __m512 low23 = _mm512_maskz_shuffle_f32x4(kAll, b[8 + q], b[12 + q], 0x44);
    const __m512 high23 = _mm512_maskz_shuffle_f32x4(kAll, b[8 + q], b[12 + q], 0xEE);
    rows[q] = _mm512_maskz_shuffle_f32x4(kAll, low01, low23, 0x88);
    rows[4 + q] = _mm512_maskz_shuffle_f32x4(kAll, low01, low23, 0xDD);
    rows[8 + q] = _mm512_maskz_shuffle_f32x4(kAll, high01, high23, 0x88);
    rows[12 + q] = _mm512_maskz_shuffle_f32x4(kAll, high01, high23, 0xDD);
  }
}
// max(x, 0) gives the second operand for NaN and for -0: 0, as relu_forward's select. (The
// masked form: GCC 12 warns on the unmasked one's header.)
SALIENCY_SIMD_INLINE Vec relu(Vec v) {
  return _mm512_maskz_max_ps(0xFFFF, v, zero());
}
// v where mask > 0, 0 elsewhere (NaN in the mask compares false: 0, as relu_backward).
SALIENCY_SIMD_INLINE Vec keep_where_positive(Vec mask, Vec v) {
  return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(mask, zero(), _CMP_GT_OQ), v);
}
// For the packed GEMM's 8-row tails (half a vector; AVX-512 only):
// Lanes [0, kLanes / 2) hold `low`, the rest `high`.
SALIENCY_SIMD_INLINE Vec halves(float low, float high) {
  return _mm512_insertf32x8(_mm512_set1_ps(low), _mm256_set1_ps(high), 1);
}
// kLanes / 2 floats from each pointer: low's in the low half.
SALIENCY_SIMD_INLINE Vec load_halves(const float* low, const float* high) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(low)), _mm256_loadu_ps(high), 1);
}
// out[l] = v[l] + v[l + kLanes / 2] for l < kLanes / 2.
SALIENCY_SIMD_INLINE void store_folded_halves(float* out, Vec v) {
  _mm512_mask_storeu_ps(out, 0x00FF,
                        _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E)));
}
// sums[r] = the sum of acc[r]'s lanes, r < kLanes / 2: pairs of vectors folded into each other by
// 128-bit blocks, then within blocks.
inline void store_lane_sums(const Vec (&acc)[kLanes / 2], float* sums) {
  constexpr __mmask16 kAll = 0xFFFF;  // masked forms: GCC 12 warns on the unmasked ones' headers
  __m512 pairs[4];                    // blocks: acc[2p]'s two half sums, then acc[2p + 1]'s
  for (int q = 0; q < 4; ++q)
    pairs[q] = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, acc[2 * q], acc[2 * q + 1], 0x44),
                             _mm512_maskz_shuffle_f32x4(kAll, acc[2 * q], acc[2 * q + 1], 0xEE));
  __m512 quads[2];  // block j: four partial sums of acc[4h + j]
  for (int h = 0; h < 2; ++h)
    quads[h] =
        _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, pairs[2 * h], pairs[2 * h + 1], 0x88),
                      _mm512_maskz_shuffle_f32x4(kAll, pairs[2 * h], pairs[2 * h + 1], 0xDD));
  const __m512 folded = _mm512_add_ps(_mm512_maskz_unpacklo_ps(kAll, quads[0], quads[1]),
                                      _mm512_maskz_unpackhi_ps(kAll, quads[0], quads[1]));
  // block j: acc[j]'s sum, acc[4 + j]'s, twice
  const __m512 totals = _mm512_add_ps(folded, _mm512_maskz_shuffle_ps(kAll, folded, folded, 0x4E));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
  _mm512_mask_storeu_ps(sums, 0x00FF, _mm512_maskz_permutexvar_ps(kAll, order, totals));
}

#else  // AVX2 with FMA

inline constexpr int kLanes = 8;
using Vec = __m256;
using Lanes = uint32_t;  // bits 0-7
inline constexpr Lanes kAllLanes = 0xFF;

// Lane l all ones where bit l of `lanes` is set: the form AVX2's masked moves take.
SALIENCY_SIMD_INLINE __m256i lane_vector(Lanes lanes) {
  const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(int(lanes)), bits), bits);
}

SALIENCY_SIMD_INLINE Vec zero() {
  return _mm256_setzero_ps();
}
SALIENCY_SIMD_INLINE Vec broadcast(float value) {
  return _mm256_set1_ps(value);
}
SALIENCY_SIMD_INLINE Vec load(const float* p) {
  return _mm256_load_ps(p);
}
SALIENCY_SIMD_INLINE Vec loadu(const float* p) {
  return _mm256_loadu_ps(p);
}
SALIENCY_SIMD_INLINE Vec load_lanes(Lanes lanes, const float* p) {
  return _mm256_maskload_ps(p, lane_vector(lanes));
}
SALIENCY_SIMD_INLINE Vec load_lanes_into(Vec into, Lanes lanes, const float* p) {
  const __m256i mask = lane_vector(lanes);
  return _mm256_blendv_ps(into, _mm256_maskload_ps(p, mask), _mm256_castsi256_ps(mask));
}
SALIENCY_SIMD_INLINE void store(float* p, Vec v) {
  _mm256_store_ps(p, v);
}
SALIENCY_SIMD_INLINE void store_lanes(float* p, Lanes lanes, Vec v) {
  if (lanes == kAllLanes)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, lane_vector(lanes), v);
}
SALIENCY_SIMD_INLINE void stream(float* p, Vec v) {
  _mm256_stream_ps(p, v);
}
SALIENCY_SIMD_INLINE Vec fmadd(Vec a, Vec b, Vec c) {
  return _mm256_fmadd_ps(a, b, c);
}
SALIENCY_SIMD_INLINE Vec add(Vec a, Vec b) {
  return _mm256_add_ps(a, b);
}
SALIENCY_SIMD_INLINE Vec mul(Vec a, Vec b) {
  return _mm256_mul_ps(a, b);
}
SALIENCY_SIMD_INLINE Vec sub(Vec a, Vec b) {
  return _mm256_sub_ps(a, b);
}
SALIENCY_SIMD_INLINE Vec fnmadd(Vec a, Vec b, Vec c) {
  return _mm256_fnmadd_ps(a, b, c);
}
SALIENCY_SIMD_INLINE void storeu(float* p, Vec v) {
  _mm256_storeu_ps(p, v);
}
// The even elements of the 2 * kLanes floats [low, high], in order: [low 0 2, high 0 2 | low 4 6,
// high 4 6] by a shuffle within 128-bit halves, then the middle quarters swapped.
SALIENCY_SIMD_INLINE Vec even_lanes(Vec low, Vec high) {
  const __m256 evens = _mm256_shuffle_ps(low, high, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
}
// rows[i][j] -> rows[j][i] for an 8 x 8 block held in 8 vectors.
inline void transpose(Vec (&rows)[kLanes]) {
  transpose_8x8(rows);
}
// maxps returns its second operand for NaN and for equal zeros: 0, as relu_forward's select.
SALIENCY_SIMD_INLINE Vec relu(Vec v) {
  return _mm256_max_ps(v, zero());
}
SALIENCY_SIMD_INLINE Vec keep_where_positive(Vec mask, Vec v) {
  return _mm256_and_ps(_mm256_cmp_ps(mask, zero(), _CMP_GT_OQ), v);
}
// The sum of v's lanes (the packed GEMM's 6-row tails).
SALIENCY_SIMD_INLINE float lane_sum(Vec v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
  return _mm_cvtss_f32(_mm_add_ss(sum, _mm_movehdup_ps(sum)));
}

#endif

// The first `count` lanes (0 <= count <= kLanes).
SALIENCY_SIMD_INLINE Lanes first_lanes(int64_t count) {
  return count >= kLanes ? kAllLanes : static_cast<Lanes>((1u << count) - 1);
}

// out[q] = in[2 q] for q < count (a stride-2 row's values: im2col's columns, a stride phase's
// plane row), kLanes at a time from two vectors' even lanes; nothing past in[2 (count - 1)] is
// read. The last (partial) step goes under masks with AVX-512 and one value at a time with AVX2,
// whose masked moves are slow on AMD cores (under masks throughout, layer2's 3x3/2 forward at
// batch 1 had run 1.74 -> 2.33 ms on a Zen 3).
inline void copy_even_elements(const float* in, int64_t count, float* out) {
  int64_t q = 0;
  for (; q + kLanes < count; q += kLanes)  // (in[2 (q + kLanes)] is read later: in range)
    storeu(out + q, even_lanes(loadu(in + 2 * q), loadu(in + 2 * q + kLanes)));
#if defined(__AVX512F__)
  const int64_t values = count - q, elements = 2 * values - 1;  // in[2 q .. 2 (count - 1)]
  if (values <= 0) return;
  const Vec low = load_lanes(first_lanes(elements), in + 2 * q);
  const Vec high =
      load_lanes(first_lanes(elements > kLanes ? elements - kLanes : 0), in + 2 * q + kLanes);
  store_lanes(out + q, first_lanes(values), even_lanes(low, high));
#else
  for (; q < count; ++q) out[q] = in[2 * q];
#endif
}

#undef SALIENCY_SIMD_INLINE

}  // namespace saliency::kernels::cpu::simd

#endif
