#pragma once
// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011), the counter-based generator behind our normal noise. Block b of stream `seed` is a
// pure function of (seed, b): any element can be drawn by any thread on any device without
// drawing the ones before it, so the CPU fills noise in parallel and a GPU draws it where it is
// used, both the same stream. This header is compiled by the C++ compiler and by nvcc alike:
// one definition serves kernels/cpu/random.cpp and kernels/cuda/random.cu.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"

namespace saliency::kernels::philox {

struct Block {
  uint32_t word[4];
};

// The paper's constants, shared with the CPU's eight-block version (kernels/cpu/random.cpp):
// the round multipliers, the Weyl constants that bump the key between rounds, and Box-Muller's
// scale of a 32-bit word to [0, 1) and its full turn.
inline constexpr int kRounds = 10;
inline constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
inline constexpr double kTwoToMinus32 = 1.0 / 4294967296.0;
inline constexpr double kTwoPi = 6.283185307179586476925286766559;

// The generator's ten rounds: the counter is the plaintext, the key is bumped by the Weyl
// constants between rounds.
SALIENCY_HOST_DEVICE inline Block philox4x32_10(Block counter, uint32_t key0, uint32_t key1) {
  uint32_t* c = counter.word;
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) key0 += kWeyl0, key1 += kWeyl1;
    const uint64_t product0 = uint64_t(kMultiplier0) * c[0];
    const uint64_t product1 = uint64_t(kMultiplier1) * c[2];
    const uint32_t high0 = uint32_t(product0 >> 32), low0 = uint32_t(product0);
    const uint32_t high1 = uint32_t(product1 >> 32), low1 = uint32_t(product1);
    const Block next{{high1 ^ c[1] ^ key0, low1, high0 ^ c[3] ^ key1, low0}};
    counter = next;
  }
  return counter;
}

// Standard normal draws 4 j .. 4 j + 3 of stream `seed`: block j's four words as two Box-Muller
// pairs, in double (r = sqrt(-2 ln u1) with u1 in (0, 1], angle 2 pi u2 with u2 in [0, 1)). The
// C library's and CUDA's log, sin and cos may differ in the last bit of a double, and the CPU's
// fill (kernels/cpu/random.cpp) takes glibc's vector versions, within 4 ulp: rounding to float
// hides that in all but rare cases, so the streams agree to rounding, not bit for bit.
SALIENCY_HOST_DEVICE inline void standard_normal_quad(uint64_t seed, uint64_t j, double out[4]) {
  const Block bits = philox4x32_10(Block{{uint32_t(j), uint32_t(j >> 32), 0u, 0u}}, uint32_t(seed),
                                   uint32_t(seed >> 32));
  for (int pair = 0; pair < 2; ++pair) {
    const double u1 = (double(bits.word[2 * pair]) + 1.0) * kTwoToMinus32;
    const double u2 = double(bits.word[2 * pair + 1]) * kTwoToMinus32;
    const double radius = sqrt(-2.0 * log(u1)), angle = kTwoPi * u2;
    out[2 * pair] = radius * cos(angle);
    out[2 * pair + 1] = radius * sin(angle);
  }
}

}  // namespace saliency::kernels::philox
