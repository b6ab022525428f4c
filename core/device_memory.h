#pragma once
// Device memory as core/ sees it: allocate, release and copy on a non-CPU device. core/ does not
// include a backend; these functions are defined by the CUDA backend in the same library
// (kernels/cuda/device_memory.cpp, plain C++ over the caching allocator; in a build without CUDA
// every call throws why), so Storage and Tensor::to(Device) work without knowing which is linked.
#include <cstddef>

#include "core/device.h"

namespace saliency::device_memory {

// Throws saliency::Error naming the device and the reason when it cannot (no CUDA in this
// build, no GPU, an index other than 0, out of memory).
void* allocate(Device device, size_t bytes);
void release(Device device, void* data, size_t bytes) noexcept;
void copy_host_to_device(Device device, void* target, const void* source, size_t bytes);
void copy_device_to_host(Device device, void* target, const void* source, size_t bytes);
void copy_within_device(Device device, void* target, const void* source, size_t bytes);

}  // namespace saliency::device_memory
