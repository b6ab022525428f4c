#pragma once
// The CPU's fill_normal (kernels/cpu/random.h) on a device pointer: the same Philox stream, equal
// to the CPU's up to the last bit of the transcendental functions (see kernels/philox.h).
#include <cstdint>

namespace saliency::kernels::cuda {

template <typename T>
void fill_normal(uint64_t seed, uint64_t first, int64_t count, double stddev, T* out);

}  // namespace saliency::kernels::cuda
