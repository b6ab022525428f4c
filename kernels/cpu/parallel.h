#pragma once
// Threading for CPU kernels: a small pool of our own threads splits each kernel's range into
// chunks, and every GEMM call inside a chunk is single-threaded. Eigen's own threading
// collapses on convolution shapes; splitting the output ourselves keeps both cores busy.
//
// Why not OpenMP: libgomp's idle threads spin for a long time before they sleep, so two
// processes with 2 threads each on a 2-core machine starve each other (3-4x slower than one
// after the other). The pool's threads spin briefly, yielding the core, and then sleep; the
// thread that starts a region takes any chunk nobody has started, so it never waits for a
// worker that the OS has not scheduled yet.
#include <algorithm>
#include <cstdint>

namespace saliency::kernels::cpu {

// Threads a parallel region started by this thread uses (itself included): what this thread
// gave set_num_threads (it affects this thread only, as omp_set_num_threads did), else
// $OMP_NUM_THREADS, else the machine's hardware threads.
int num_threads();
void set_num_threads(int threads);

// How many items of `work_per_item` elements make a chunk worth a thread: waking a second
// thread costs microseconds, so tiny kernels (gradient checks, small layers) stay serial.
inline int64_t grain_for(int64_t work_per_item) {
  constexpr int64_t kMinWorkPerChunk = 1 << 15;
  return std::max<int64_t>(1, kMinWorkPerChunk / std::max<int64_t>(work_per_item, 1));
}

namespace detail {
using ChunkFunction = void (*)(const void* context, int64_t lo, int64_t hi);
// Runs chunk c = [begin + range c / chunks, begin + range (c + 1) / chunks) for every c on the
// pool; returns when all are done. Nested calls (from inside a chunk) run serially.
void run_chunks(int64_t begin, int64_t range, int64_t chunks, ChunkFunction function,
                const void* context);
bool inside_parallel_region();
}  // namespace detail

// Calls fn(lo, hi) over consecutive chunks covering [begin, end), in parallel when the range is
// at least two grains long. Chunks are fixed by the range and the thread count alone, so a
// kernel that reduces within chunks is reproducible for a given thread count.
template <typename Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const Fn& fn) {
  const int64_t range = end - begin;
  if (range <= 0) return;
  const int64_t chunks = std::min<int64_t>(num_threads(), range / std::max<int64_t>(grain, 1));
  if (chunks > 1 && !detail::inside_parallel_region()) {
    detail::run_chunks(
        begin, range, chunks,
        [](const void* context, int64_t lo, int64_t hi) {
          (*static_cast<const Fn*>(context))(lo, hi);
        },
        &fn);
    return;
  }
  fn(begin, end);
}

// Calls fn(task) for every task in [0, tasks), each task its own chunk, taken by whichever
// thread is free next. For kernels whose tasks write disjoint outputs, so that results do not
// depend on which thread runs which: with chunks fixed in advance, one thread slowed by uneven
// tasks or by another process on its core leaves the other waiting at the end of the region.
template <typename Fn>
void parallel_tasks(int64_t tasks, const Fn& fn) {
  constexpr int64_t kMaxTasksPerRegion = 65535;  // the pool counts chunks in 16 bits
  if (tasks > 1 && tasks <= kMaxTasksPerRegion && num_threads() > 1 &&
      !detail::inside_parallel_region()) {
    detail::run_chunks(
        0, tasks, tasks,
        [](const void* context, int64_t lo, int64_t hi) {
          for (int64_t task = lo; task < hi; ++task) (*static_cast<const Fn*>(context))(task);
        },
        &fn);
    return;
  }
  for (int64_t task = 0; task < tasks; ++task) fn(task);
}

// Calls fn(item) for every item in [0, items), for items that each hold enough work for all
// threads (a batch's images): while at least one item is left for every thread, the threads take
// whole items, in which fn's own parallel loops run serially (no barrier between its steps, and
// each thread's data stays in its own cache); the items left over run one after another with
// fn's loops shared out. Which thread runs an item does not change what it computes.
template <typename Fn>
void parallel_items(int64_t items, const Fn& fn) {
  const int64_t threads = detail::inside_parallel_region() ? 1 : num_threads();
  const int64_t whole = threads > 1 ? items / threads * threads : 0;
  if (whole > 0) parallel_tasks(whole, fn);
  for (int64_t item = whole; item < items; ++item) fn(item);
}

}  // namespace saliency::kernels::cpu
