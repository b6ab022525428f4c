#include "kernels/cpu/parallel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SALIENCY_CPU_RELAX() _mm_pause()
#else
#define SALIENCY_CPU_RELAX() std::this_thread::yield()
#endif

#include "core/error.h"

namespace saliency::kernels::cpu {
namespace {

thread_local bool inside_region = false;
thread_local int requested_threads = 0;  // set_num_threads on this thread; 0: the pool's size

// A parallel region's chunks are claimed through one atomic word, generation << 32 |
// chunks << 16 | next chunk: whichever thread comes first runs the next chunk, and a worker that
// wakes after its region ended sees another generation (or no chunk left) and claims nothing,
// so it never reads a region that is being replaced. No allocation per region.
constexpr uint64_t kChunkBits = 16;
constexpr uint64_t kChunkMask = (uint64_t(1) << kChunkBits) - 1;

struct Region {
  int64_t begin = 0, range = 0, chunks = 0;
  detail::ChunkFunction function = nullptr;
  const void* context = nullptr;
};

// Waits until ready() holds: spins a little (a region usually follows within microseconds),
// yielding the core now and then so a process beside us is not starved, then returns false so
// the caller can sleep.
template <typename Ready>
bool spin_until(const Ready& ready, int rounds) {
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      SALIENCY_CPU_RELAX();
    }
    std::this_thread::yield();
  }
  return ready();
}

class ThreadPool {
 public:
  static ThreadPool& instance() {
    static ThreadPool pool;
    return pool;
  }
  ~ThreadPool() { resize(1); }

  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void resize(int threads) {
    std::lock_guard<std::mutex> serial(run_mutex_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& worker : workers_) worker.join();
    workers_.clear();
    stopping_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    threads_.store(threads, std::memory_order_relaxed);
  }

  void run(int64_t begin, int64_t range, int64_t chunks, detail::ChunkFunction function,
           const void* context) {
    SALIENCY_CHECK(uint64_t(chunks) <= kChunkMask, "parallel_for: too many chunks (", chunks, ")");
    std::lock_guard<std::mutex> serial(run_mutex_);  // one region at a time
    const uint64_t generation = (generation_.load(std::memory_order_relaxed) + 1) & 0xffffffff;
    // No worker reads region_ now: every chunk of the previous region is done, and a claim of
    // this one needs the store of claim_ below.
    region_ = {begin, range, chunks, function, context};
    done_.store(0, std::memory_order_relaxed);
    claim_.store(generation << 32 | uint64_t(chunks) << kChunkBits, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.store(generation, std::memory_order_release);
      if (sleepers_ > 0) wake_.notify_all();
    }
    inside_region = true;
    work(generation);
    inside_region = false;
    // The rest are chunks a worker has started: wait for them.
    while (!spin_until([&] { return done_.load(std::memory_order_acquire) == chunks; }, 1 << 20)) {
    }
  }

 private:
  ThreadPool() {
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* from_environment = std::getenv("OMP_NUM_THREADS"))
      threads = std::atoi(from_environment);
    resize(std::max(1, threads));
  }

  // Claims and runs chunks of region `generation` until none is left.
  void work(uint64_t generation) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    for (;;) {
      const uint64_t next = claim & kChunkMask, chunks = (claim >> kChunkBits) & kChunkMask;
      if (claim >> 32 != generation || next >= chunks) return;
      if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel,
                                        std::memory_order_acquire))
        continue;                 // `claim` now holds the current word
      const Region& r = region_;  // stable until this chunk is counted in done_
      const int64_t c = int64_t(next);
      r.function(r.context, r.begin + r.range * c / r.chunks,
                 r.begin + r.range * (c + 1) / r.chunks);
      done_.fetch_add(1, std::memory_order_release);
      claim = claim_.load(std::memory_order_acquire);
    }
  }

  void worker_loop() {
    inside_region = true;  // a chunk's own parallel_for runs serially
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      auto changed = [&] {
        return generation_.load(std::memory_order_acquire) != seen ||
               stopping_.load(std::memory_order_relaxed);
      };
      if (!spin_until(changed, 512)) {  // about 1 ms, then sleep
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock, changed);
        --sleepers_;
      }
      if (stopping_.load(std::memory_order_relaxed)) return;
      seen = generation_.load(std::memory_order_acquire);
      work(seen);
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  std::mutex run_mutex_;  // serializes regions (and resizing) started from different threads
  std::mutex mutex_;      // guards sleepers_ and the sleeping workers' wake-up
  std::condition_variable wake_;
  // Each on its own cache line: threads claiming chunks do not slow the ones polling.
  alignas(64) std::atomic<uint64_t> generation_{0};  // of the latest region, for waking workers
  alignas(64) std::atomic<uint64_t> claim_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) Region region_;
  int sleepers_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace

namespace detail {

void run_chunks(int64_t begin, int64_t range, int64_t chunks, ChunkFunction function,
                const void* context) {
  ThreadPool::instance().run(begin, range, chunks, function, context);
}

bool inside_parallel_region() {
  return inside_region;
}

}  // namespace detail

int num_threads() {
  return requested_threads > 0 ? requested_threads : ThreadPool::instance().threads();
}

void set_num_threads(int threads) {
  SALIENCY_CHECK(threads >= 1, "set_num_threads: need at least one thread, got ", threads);
  requested_threads = threads;
  ThreadPool& pool = ThreadPool::instance();
  if (threads > pool.threads()) pool.resize(threads);
}

}  // namespace saliency::kernels::cpu
