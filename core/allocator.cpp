#include "core/allocator.h"

#include <bit>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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

namespace {

// Blocks of at least this size start on a 2 MiB boundary and ask the kernel for transparent
// huge pages (Linux: THP is often "madvise" only). Large activations and weights are read in
// strided patterns (a GEMM walks rows several KiB apart): with 4 KiB pages nearly every such
// load misses the first-level TLB; one 2 MiB page covers 512 of them.
constexpr size_t kHugePage = size_t(2) << 20;

void* allocate_from_system(size_t bytes) {
  if (bytes < kHugePage) return std::aligned_alloc(CpuAllocator::kAlignment, bytes);
  void* block = nullptr;
  if (posix_memalign(&block, kHugePage, bytes) != 0) return nullptr;
#if defined(__linux__)
  madvise(block, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // a hint: failure is harmless
#endif
  return block;
}

}  // namespace

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
  void* block = allocate_from_system(rounded);
  if (block == nullptr) {
    empty_cache();
    block = allocate_from_system(rounded);
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
