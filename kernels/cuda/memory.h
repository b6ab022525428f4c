#pragma once
// Device memory for the CUDA kernels: a caching allocator, host <-> device copies and a checked
// synchronization. Like CpuAllocator, freed blocks are kept by size class and handed out again,
// so a model's second pass calls cudaMalloc (which synchronizes the device) no more. Every CUDA
// call is checked and a failure throws saliency::Error naming what failed. In a build without
// CUDA each of these throws.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/allocator.h"

namespace saliency::kernels::cuda {

class CudaAllocator {
 public:
  // The process-wide instance (device 0).
  static CudaAllocator& instance();

  void* allocate(size_t bytes);
  void release(void* data, size_t bytes);
  // Returns cached blocks to the driver (cudaFree).
  void empty_cache();
  AllocatorStats stats() const { return cache_.stats(); }
  void reset_peak() { cache_.reset_peak(); }

  ~CudaAllocator();

 private:
  CudaAllocator() = default;
  BlockCache cache_;  // size classes as CpuAllocator::size_class
};

void copy_to_device(void* device, const void* host, size_t bytes);
void copy_to_host(void* host, const void* device, size_t bytes);
void copy_on_device(void* target, const void* source, size_t bytes);
// Waits for the device's work; `what` names the caller in the error if a kernel failed.
void synchronize(const char* what);

// A device array of `count` T owned by one scope, for kernels and their tests.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(int64_t count)
      : count_(count), data_(static_cast<T*>(CudaAllocator::instance().allocate(bytes()))) {}
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(int64_t(host.size())) {
    copy_to_device(data_, host.data(), bytes());
  }
  ~DeviceArray() { CudaAllocator::instance().release(data_, bytes()); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& other) noexcept
      : count_(other.count_), data_(std::exchange(other.data_, nullptr)) {}
  DeviceArray& operator=(DeviceArray&& other) noexcept {
    if (this != &other) {
      CudaAllocator::instance().release(data_, bytes());
      count_ = other.count_;
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }

  T* data() const { return data_; }
  int64_t size() const { return count_; }
  std::vector<T> download() const {
    std::vector<T> host(static_cast<size_t>(count_));
    copy_to_host(host.data(), data_, bytes());
    return host;
  }

 private:
  size_t bytes() const { return static_cast<size_t>(count_) * sizeof(T); }
  int64_t count_;
  T* data_;
};

}  // namespace saliency::kernels::cuda
