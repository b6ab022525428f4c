#pragma once
// The float vector of the build's instruction set, for kernels written once for AVX-512 and AVX2
// (the packed GEMM): 16 lanes in 32 registers, or 8 lanes in 16 registers. The build compiles
// for its own machine (-march=native), so this is a choice made at compile time, not a dispatch.
// Lane masks are bit masks in both (bit l: lane l); AVX2 widens them to a vector where it needs
// one. Loads and stores under a mask touch no memory outside it, as the AVX-512 forms.
// Included by kernel sources only: it is not part of any public header.
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

#include <immintrin.h>

#include <cstdint>

#define SALIENCY_SIMD 1

namespace saliency::kernels::cpu::simd {

#define SALIENCY_SIMD_INLINE [[gnu::always_inline]] inline

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

#undef SALIENCY_SIMD_INLINE

}  // namespace saliency::kernels::cpu::simd

#endif
