#pragma once
// Temporary kernel memory (im2col columns, partial sums) drawn from the caching allocator, so a
// kernel called once per layer per pass reuses the same pages instead of faulting in new ones.
#include <cstdint>

#include "core/allocator.h"

namespace saliency::kernels::cpu {

template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t count)
      : bytes_(static_cast<size_t>(count) * sizeof(T)),
        data_(static_cast<T*>(CpuAllocator::instance().allocate(bytes_))) {}
  ~Scratch() { CpuAllocator::instance().release(data_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() const { return data_; }

 private:
  size_t bytes_;
  T* data_;
};

}  // namespace saliency::kernels::cpu
