#pragma once
// A caching allocator for host memory. Fresh pages cost about 2.3 s per GiB to fault in on our
// machines, so freed blocks are kept and handed out again to requests of the same size class:
// after the first pass of a model, later passes allocate nothing from the system. Blocks of 2
// MiB and more start on a 2 MiB boundary and are marked for transparent huge pages
// (MADV_HUGEPAGE on Linux), so kernels that read rows far apart miss the TLB less.
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace saliency {

struct AllocatorStats {
  size_t bytes_in_use = 0;          // handed out and not yet returned
  size_t bytes_cached = 0;          // returned and kept for reuse
  size_t peak_bytes_in_use = 0;     // since the last reset_peak()
  uint64_t system_allocations = 0;  // blocks obtained from the system
  uint64_t cache_hits = 0;          // requests served from the cache
};

// The cache behind both allocators (host and device): freed blocks kept by size class, and
// the statistics. Thread-safe. The allocators add only where the blocks come from.
class BlockCache {
 public:
  // A cached block of this size class, now in use; null when none is cached. A request above
  // kLargeClass with none of its own class cached takes the smallest cached block up to a quarter
  // larger (counted at its own size, and put back in its own class): a method run in chunks of
  // two sizes (IG-50 in 17 + 17 + 16) otherwise kept a second set of large blocks for the smaller
  // chunk beside the first.
  void* take(size_t size_class);
  static constexpr size_t kLargeClass = size_t(1) << 20;
  // Counts a block fresh from the system as in use.
  void add_fresh(size_t size_class);
  // Keeps a block the caller is done with for the next take() of its class.
  void put(void* block, size_t size_class);
  // Every cached block with its size class, forgotten by the cache (to free them).
  std::vector<std::pair<void*, size_t>> drain();
  AllocatorStats stats() const;
  void reset_peak();

 private:
  void note_in_use(size_t bytes);  // with mutex_ held
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_blocks_;
  std::unordered_map<void*, size_t> taken_larger_;  // blocks handed out above their request's class
  AllocatorStats stats_;
};

class CpuAllocator {
 public:
  static constexpr size_t kAlignment = 64;

  // The process-wide instance every CPU tensor draws from.
  static CpuAllocator& instance();

  void* allocate(size_t bytes);
  void release(void* data, size_t bytes);

  // Returns cached blocks to the system (e.g. after a large one-off job).
  void empty_cache();
  AllocatorStats stats() const { return cache_.stats(); }
  void reset_peak() { cache_.reset_peak(); }

  // The size class a request is rounded up to; equal classes share cached blocks.
  static size_t size_class(size_t bytes);

  ~CpuAllocator();

 private:
  CpuAllocator() = default;
  BlockCache cache_;
};

}  // namespace saliency
