#pragma once
// Software prefetch of a run of memory into the caches, for kernels whose reads the hardware
// prefetchers miss (rows too short to train them). An asm statement rather than
// __builtin_prefetch: GCC 12 treats a function made only of prefetch builtins as free of effects
// and drops its calls.
#include <cstdint>

namespace saliency::kernels::cpu {

inline void prefetch_run(const void* begin, int64_t bytes) {
  const char* first = static_cast<const char*>(begin);
  for (int64_t offset = 0; offset < bytes; offset += 64) {
#if defined(__x86_64__)
    asm volatile("prefetcht0 %0" : : "m"(first[offset]));
#else
    __builtin_prefetch(first + offset);
#endif
  }
}

}  // namespace saliency::kernels::cpu
