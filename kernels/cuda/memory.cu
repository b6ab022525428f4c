#include "kernels/cuda/memory.h"

#include "core/error.h"
#include "kernels/cuda/check.cuh"

namespace saliency::kernels::cuda {

CudaAllocator& CudaAllocator::instance() {
  static CudaAllocator allocator;
  return allocator;
}

CudaAllocator::~CudaAllocator() {
  // At exit the driver may already be shutting down: free quietly.
  for (const auto& [block, size] : cache_.drain()) cudaFree(block);
}

void* CudaAllocator::allocate(size_t bytes) {
  const size_t rounded = CpuAllocator::size_class(bytes);
  if (void* cached = cache_.take(rounded)) return cached;
  void* block = nullptr;
  if (cudaMalloc(&block, rounded) != cudaSuccess) {
    cudaGetLastError();  // clear the error before freeing the cache and trying again
    empty_cache();
    check(cudaMalloc(&block, rounded), concat("cudaMalloc of ", bytes, " bytes").c_str());
  }
  cache_.add_fresh(rounded);
  return block;
}

void CudaAllocator::release(void* data, size_t bytes) {
  if (data != nullptr) cache_.put(data, CpuAllocator::size_class(bytes));
}

void CudaAllocator::empty_cache() {
  for (const auto& [block, size] : cache_.drain()) check(cudaFree(block), "cudaFree");
}

void copy_to_device(void* device, const void* host, size_t bytes) {
  check(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), "copy to device");
}

void copy_to_host(void* host, const void* device, size_t bytes) {
  check(cudaMemcpy(host, device, bytes, cudaMemcpyDeviceToHost), "copy to host");
}

void copy_on_device(void* target, const void* source, size_t bytes) {
  check(cudaMemcpy(target, source, bytes, cudaMemcpyDeviceToDevice), "copy within device");
}

void synchronize(const char* what) {
  check(cudaDeviceSynchronize(), what);
}

}  // namespace saliency::kernels::cuda
