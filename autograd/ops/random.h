#pragma once
// Seeded normal noise made on the device that will use it (no autograd history): SmoothGrad's
// noisy copies. The stream is Philox4x32-10 (kernels/philox.h): element i of the result is draw
// (first + i) of stream `seed`, so sample k of a method can take draws [k n, (k + 1) n) and come
// out the same in any batch, on any thread count and on the CPU or a GPU (to float rounding).
#include <cstdint>

#include "core/tensor.h"

namespace saliency {

Tensor normal_noise(const Shape& shape, uint64_t seed, uint64_t first, double stddev,
                    DType dtype = DType::Float32, Device device = Device::cpu());

}  // namespace saliency
