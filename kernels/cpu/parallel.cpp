#include "kernels/cpu/parallel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
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

// One parallel region: its chunks are claimed through `next`, so whichever thread comes first
// runs the next chunk. Workers hold it by shared_ptr: one that wakes after the region ended
// finds no chunk left and never touches the (by then gone) function.
struct Region {
  int64_t begin = 0, range = 0, chunks = 0;
  detail::ChunkFunction function = nullptr;
  const void* context = nullptr;
  std::atomic<int64_t> next{0}, done{0};

  // Claims and runs chunks until none is left.
  void work() {
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      function(context, begin + range * c / chunks, begin + range * (c + 1) / chunks);
      done.fetch_add(1, std::memory_order_release);
    }
  }
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
    auto region = std::make_shared<Region>();
    region->begin = begin, region->range = range, region->chunks = chunks;
    region->function = function, region->context = context;
    std::lock_guard<std::mutex> serial(run_mutex_);  // one region at a time
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_ = region;
      generation_.fetch_add(1, std::memory_order_release);
      if (sleepers_ > 0) wake_.notify_all();
    }
    inside_region = true;
    region->work();
    inside_region = false;
    // The rest are chunks a worker has started: wait for them.
    while (!spin_until([&] { return region->done.load(std::memory_order_acquire) == chunks; },
                       1 << 20)) {
    }
  }

 private:
  ThreadPool() {
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* from_environment = std::getenv("OMP_NUM_THREADS"))
      threads = std::atoi(from_environment);
    resize(std::max(1, threads));
  }

  void worker_loop() {
    inside_region = true;  // a chunk's own parallel_for runs serially
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      auto changed = [&] { return generation_.load(std::memory_order_acquire) != seen; };
      std::shared_ptr<Region> region;
      if (!spin_until(changed, 512)) {  // about 1 ms, then sleep
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock, [&] { return changed() || stopping_; });
        --sleepers_;
        if (stopping_) return;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        seen = generation_.load(std::memory_order_acquire);
        region = current_;
      }
      if (region) region->work();
    }
  }

  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};
  std::mutex run_mutex_;  // serializes regions (and resizing) started from different threads
  std::mutex mutex_;      // guards current_, sleepers_, stopping_
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Region> current_;
  int sleepers_ = 0;
  bool stopping_ = false;
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
