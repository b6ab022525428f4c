#include "core/allocator.h"

#include <algorithm>
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
  if (void* cached = cache_.take(rounded)) return cached;
  void* block = allocate_from_system(rounded);
  if (block == nullptr) {
    empty_cache();
    block = allocate_from_system(rounded);
  }
  if (block == nullptr) throw Error(concat("out of memory allocating ", bytes, " bytes"));
  cache_.add_fresh(rounded);
  return block;
}

void CpuAllocator::release(void* data, size_t bytes) {
  if (data != nullptr) cache_.put(data, size_class(bytes));
}

void CpuAllocator::empty_cache() {
  for (const auto& [block, size] : cache_.drain()) std::free(block);
}

void* BlockCache::take(size_t size_class) {
  std::lock_guard lock(mutex_);
  const size_t largest = size_class > kLargeClass ? size_class + size_class / 4 : size_class;
  auto it = free_blocks_.lower_bound(size_class);
  while (it != free_blocks_.end() && it->first <= largest && it->second.empty()) ++it;
  if (it == free_blocks_.end() || it->first > largest) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  const size_t bytes = it->first;
  if (bytes != size_class) taken_larger_[block] = bytes;
  stats_.bytes_cached -= bytes;
  note_in_use(bytes);
  ++stats_.cache_hits;
  return block;
}

void BlockCache::add_fresh(size_t size_class) {
  std::lock_guard lock(mutex_);
  note_in_use(size_class);
  ++stats_.system_allocations;
}

void BlockCache::note_in_use(size_t bytes) {
  stats_.bytes_in_use += bytes;
  stats_.peak_bytes_in_use = std::max(stats_.peak_bytes_in_use, stats_.bytes_in_use);
}

void BlockCache::put(void* block, size_t size_class) {
  std::lock_guard lock(mutex_);
  if (auto larger = taken_larger_.find(block); larger != taken_larger_.end()) {
    size_class = larger->second;
    taken_larger_.erase(larger);
  }
  free_blocks_[size_class].push_back(block);
  stats_.bytes_in_use -= size_class;
  stats_.bytes_cached += size_class;
}

std::vector<std::pair<void*, size_t>> BlockCache::drain() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<void*, size_t>> blocks;
  for (auto& [size, list] : free_blocks_) {
    for (void* block : list) blocks.emplace_back(block, size);
    stats_.bytes_cached -= size * list.size();
  }
  free_blocks_.clear();
  return blocks;
}

AllocatorStats BlockCache::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void BlockCache::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes_in_use = stats_.bytes_in_use;
}

}  // namespace saliency
