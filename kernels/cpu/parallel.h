#pragma once
// Threading for CPU kernels: we split work across OpenMP threads ourselves and keep every GEMM
// call single-threaded inside. Eigen's own threading collapses on convolution shapes; splitting
// the output ourselves keeps both cores busy.
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace saliency::kernels::cpu {

int num_threads();

// How many items of `work_per_item` elements make a chunk worth a thread: waking a second
// thread costs microseconds, so tiny kernels (gradient checks, small layers) stay serial.
inline int64_t grain_for(int64_t work_per_item) {
  constexpr int64_t kMinWorkPerChunk = 1 << 15;
  return std::max<int64_t>(1, kMinWorkPerChunk / std::max<int64_t>(work_per_item, 1));
}
void set_num_threads(int threads);

// Calls fn(lo, hi) over consecutive chunks covering [begin, end), in parallel when the range is
// at least two grains long. Chunks are fixed by the range and the thread count alone, so a
// kernel that reduces within chunks is reproducible for a given thread count.
template <typename Fn>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const Fn& fn) {
  const int64_t range = end - begin;
  if (range <= 0) return;
#ifdef _OPENMP
  const int64_t chunks = std::min<int64_t>(num_threads(), range / std::max<int64_t>(grain, 1));
  if (chunks > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(chunks))
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      const int64_t lo = begin + range * chunk / chunks;
      const int64_t hi = begin + range * (chunk + 1) / chunks;
      fn(lo, hi);
    }
    return;
  }
#endif
  fn(begin, end);
}

}  // namespace saliency::kernels::cpu
