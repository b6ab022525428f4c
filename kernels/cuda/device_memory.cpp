// core/device_memory.h for the CUDA backend: device 0 through the caching allocator. Plain C++
// over memory.h, so the same file serves builds with CUDA and without (where memory.h's calls
// throw; the device checks below say why first).
#include "core/device_memory.h"

#include "core/error.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/runtime.h"

namespace saliency::device_memory {
namespace {

void check_device(Device device, const char* what, size_t bytes) {
  SALIENCY_CHECK(device.is_cuda(), "no memory backend for ", device.str());
  SALIENCY_CHECK(kernels::cuda::built_with_cuda(), what, " of ", bytes, " bytes on ", device.str(),
                 ": this build has no CUDA (configure with SALIENCY_CUDA=ON where nvcc is "
                 "installed)");
  SALIENCY_CHECK(kernels::cuda::device_count() > 0, what, " of ", bytes, " bytes on ", device.str(),
                 ": no CUDA device on this machine");
  SALIENCY_CHECK(device.index == 0, what, " on ", device.str(),
                 ": this build drives CUDA device 0 only");
}

}  // namespace

void* allocate(Device device, size_t bytes) {
  check_device(device, "allocation", bytes);
  return kernels::cuda::CudaAllocator::instance().allocate(bytes);
}

void release(Device, void* data, size_t bytes) noexcept {
  kernels::cuda::CudaAllocator::instance().release(data, bytes);
}

void copy_host_to_device(Device device, void* target, const void* source, size_t bytes) {
  check_device(device, "copy", bytes);
  kernels::cuda::copy_to_device(target, source, bytes);
}

void copy_device_to_host(Device device, void* target, const void* source, size_t bytes) {
  check_device(device, "copy", bytes);
  kernels::cuda::copy_to_host(target, source, bytes);
}

void copy_within_device(Device device, void* target, const void* source, size_t bytes) {
  check_device(device, "copy", bytes);
  kernels::cuda::copy_on_device(target, source, bytes);
}

}  // namespace saliency::device_memory
