#include "core/allocator.h"

#include <bit>
#include <cstdlib>
#include <new>

#include "core/error.h"

namespace saliency {

CpuAllocator& CpuAllocator::instance() {
  static CpuAllocator allocator;
  return allocator;
}

CpuAllocator::~CpuAllocator() {
  empty_cache();
}

size_t CpuAllocator::size_class(size_t bytes) {
  if (bytes == 0) return kAlignment;
  constexpr size_t kSmall = 1 << 20;
  if (bytes <= kSmall) return (bytes + 511) / 512 * 512;
  // Above 1 MiB: steps of an eighth of the largest power of two below, so waste stays under
  // 12.5% while activations of nearby sizes still share blocks.
  const size_t step = std::bit_floor(bytes) / 8;
  return (bytes + step - 1) / step * step;
}

void* CpuAllocator::allocate(size_t bytes) {
  const size_t rounded = size_class(bytes);
  {
    std::lock_guard lock(mutex_);
    auto it = free_blocks_.find(rounded);
    if (it != free_blocks_.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= rounded;
      stats_.bytes_in_use += rounded;
      stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
      ++stats_.cache_hits;
      return block;
    }
  }
  void* block = std::aligned_alloc(kAlignment, rounded);
  if (block == nullptr) {
    empty_cache();
    block = std::aligned_alloc(kAlignment, rounded);
  }
  if (block == nullptr) throw Error(concat("out of memory allocating ", bytes, " bytes"));
  std::lock_guard lock(mutex_);
  stats_.bytes_in_use += rounded;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
  ++stats_.system_allocations;
  return block;
}

void CpuAllocator::release(void* data, size_t bytes) {
  if (data == nullptr) return;
  const size_t rounded = size_class(bytes);
  std::lock_guard lock(mutex_);
  free_blocks_[rounded].push_back(data);
  stats_.bytes_in_use -= rounded;
  stats_.bytes_cached += rounded;
}

void CpuAllocator::empty_cache() {
  std::lock_guard lock(mutex_);
  for (auto& [size, blocks] : free_blocks_) {
    for (void* block : blocks) std::free(block);
    stats_.bytes_cached -= size * blocks.size();
  }
  free_blocks_.clear();
}

AllocatorStats CpuAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CpuAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

}  // namespace saliency
