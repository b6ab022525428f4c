#pragma once
// Normal noise from the counter-based stream of kernels/philox.h, filled in parallel: out[i] is
// stddev times standard normal draw (first + i) of stream `seed`, whichever thread computes it
// (AVX-512 builds with glibc's libmvec draw eight Philox blocks at a time).
// kernels/cuda/random.h draws the same stream on a GPU.
#include <cstdint>

namespace saliency::kernels::cpu {

template <typename T>
void fill_normal(uint64_t seed, uint64_t first, int64_t count, double stddev, T* out);

}  // namespace saliency::kernels::cpu
