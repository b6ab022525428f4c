#include "kernels/cpu/random.h"

#include "kernels/cpu/parallel.h"
#include "kernels/philox.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && defined(SALIENCY_HAS_MVEC)
#include <immintrin.h>
#define SALIENCY_VECTOR_NOISE 1
// glibc's vector math library (libmvec): eight doubles per call, within 4 ulp of libm.
extern "C" __m512d _ZGVeN8v_log(__m512d);
extern "C" __m512d _ZGVeN8v_sin(__m512d);
extern "C" __m512d _ZGVeN8v_cos(__m512d);
#endif

namespace saliency::kernels::cpu {
namespace {

// Blocks per group: the draws of blocks j .. j + kGroup - 1, element 4 b + q of the group at
// draws[q][b] (q: the block's four draws, as philox::standard_normal_quad orders them).
constexpr int64_t kGroup = 8;
using GroupDraws = double[4][kGroup];

#if defined(SALIENCY_VECTOR_NOISE)

// Philox4x32-10 and Box-Muller for eight consecutive blocks, one per 64-bit lane (each word in
// a lane's low half): the same integer steps as philox.h, and the same double arithmetic with
// libmvec's log, sin and cos in place of libm's. Scalar Philox and libm took 17.6-20 ms per
// chunk of 16 noisy 3 x 224 x 224 images on 2 threads (Zen 5), about 3% of SmoothGrad-50.
void group_draws(uint64_t seed, uint64_t first_block, GroupDraws& draws) {
  constexpr __mmask8 kAll = 0xFF;  // masked forms: GCC 12 warns on the unmasked ones' headers
  const __m512i low32 = _mm512_set1_epi64(0xFFFFFFFF);
  const __m512i block = _mm512_add_epi64(_mm512_set1_epi64(int64_t(first_block)),
                                         _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
  __m512i c[4] = {_mm512_and_si512(block, low32), _mm512_maskz_srli_epi64(kAll, block, 32),
                  _mm512_setzero_si512(), _mm512_setzero_si512()};
  const __m512i m0 = _mm512_set1_epi64(philox::kMultiplier0),
                m1 = _mm512_set1_epi64(philox::kMultiplier1);
  uint32_t key0 = uint32_t(seed), key1 = uint32_t(seed >> 32);
  for (int round = 0; round < philox::kRounds; ++round) {
    if (round > 0) key0 += philox::kWeyl0, key1 += philox::kWeyl1;
    const __m512i product0 = _mm512_maskz_mul_epu32(kAll, m0, c[0]),
                  product1 = _mm512_maskz_mul_epu32(kAll, m1, c[2]);
    const __m512i next0 =
        _mm512_xor_si512(_mm512_xor_si512(_mm512_maskz_srli_epi64(kAll, product1, 32), c[1]),
                         _mm512_set1_epi64(key0));
    const __m512i next2 =
        _mm512_xor_si512(_mm512_xor_si512(_mm512_maskz_srli_epi64(kAll, product0, 32), c[3]),
                         _mm512_set1_epi64(key1));
    c[0] = next0;
    c[1] = _mm512_and_si512(product1, low32);
    c[2] = next2;
    c[3] = _mm512_and_si512(product0, low32);
  }
  const __m512d two_to_minus_32 = _mm512_set1_pd(philox::kTwoToMinus32);
  const __m512d two_pi = _mm512_set1_pd(philox::kTwoPi);
  for (int pair = 0; pair < 2; ++pair) {
    const __m512d u1 = _mm512_mul_pd(
        _mm512_add_pd(_mm512_cvtepi64_pd(c[2 * pair]), _mm512_set1_pd(1.0)), two_to_minus_32);
    const __m512d u2 = _mm512_mul_pd(_mm512_cvtepi64_pd(c[2 * pair + 1]), two_to_minus_32);
    const __m512d radius =
        _mm512_maskz_sqrt_pd(kAll, _mm512_mul_pd(_mm512_set1_pd(-2.0), _ZGVeN8v_log(u1)));
    const __m512d angle = _mm512_mul_pd(two_pi, u2);
    _mm512_storeu_pd(draws[2 * pair], _mm512_mul_pd(radius, _ZGVeN8v_cos(angle)));
    _mm512_storeu_pd(draws[2 * pair + 1], _mm512_mul_pd(radius, _ZGVeN8v_sin(angle)));
  }
}

#else

void group_draws(uint64_t seed, uint64_t first_block, GroupDraws& draws) {
  for (int64_t b = 0; b < kGroup; ++b) {
    double quad[4];
    philox::standard_normal_quad(seed, first_block + uint64_t(b), quad);
    for (int q = 0; q < 4; ++q) draws[q][b] = quad[q];
  }
}

#endif

}  // namespace

template <typename T>
void fill_normal(uint64_t seed, uint64_t first, int64_t count, double stddev, T* out) {
  // Element e is draw e % 4 of block e / 4. A chunk of elements draws groups of blocks from its
  // first block on (the last group possibly past its end); a block's draws do not depend on the
  // group it is drawn in, so any chunking gives the same values.
  parallel_for(0, count, 16384, [&](int64_t lo, int64_t hi) {
    GroupDraws draws;
    for (int64_t i = lo; i < hi;) {
      const uint64_t block = (first + uint64_t(i)) / 4;
      group_draws(seed, block, draws);
      for (uint64_t e = first + uint64_t(i); e < (block + kGroup) * 4 && i < hi; ++e, ++i)
        out[i] = static_cast<T>(stddev * draws[e % 4][e / 4 - block]);
    }
  });
}

template void fill_normal<float>(uint64_t, uint64_t, int64_t, double, float*);
template void fill_normal<double>(uint64_t, uint64_t, int64_t, double, double*);

}  // namespace saliency::kernels::cpu
