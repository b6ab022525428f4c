#pragma once
// Software prefetch of a run of memory into the caches, for kernels whose reads the hardware
// prefetchers miss (rows too short to train them). An asm statement rather than
// __builtin_prefetch: GCC 12 treats a function made only of prefetch builtins as free of effects
// and drops its calls.
#include <cstdint>

namespace saliency::kernels::cpu {

// Kernels whose whole output (all images) is at least this large write it with non-temporal
// stores where they store it as it is: at batch 16 a 56 x 56 layer's output (51 MB) is far larger
// than the last-level cache (32 MB here), so the next op reads it from memory whatever this one
// does, and an ordinary store first reads each line in (a third of the traffic of a forward with a
// residual). Smaller outputs stay cached for the next op. Used by the packed GEMM and the implicit
// convolution's block copies (the stem's output at batch 8 is 26 MB).
constexpr int64_t kStreamBytes = int64_t(16) << 20;

// The lines of [begin, begin + bytes); for_write: with intent to write (prefetchw), so that the
// store that follows need not ask for the line again. Lines are walked as addresses (a run may
// start mid-line; its first line may begin before the array).
inline void prefetch_run(const void* begin, int64_t bytes, bool for_write = false) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(begin) / 64 * 64;
  const uintptr_t end = reinterpret_cast<uintptr_t>(begin) + static_cast<uintptr_t>(bytes);
  for (uintptr_t line = first; line < end; line += 64) {
    const char* address = reinterpret_cast<const char*>(line);
#if defined(__x86_64__)
    if (for_write)
      asm volatile("prefetchw %0" : : "m"(*address));
    else
      asm volatile("prefetcht0 %0" : : "m"(*address));
#else
    __builtin_prefetch(address, for_write ? 1 : 0);
#endif
  }
}

// The lines of [begin, begin + bytes) into L2 only (prefetcht1): data needed after the work at
// hand, which would crowd that work's operands out of L1.
inline void prefetch_run_to_l2(const void* begin, int64_t bytes) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(begin) / 64 * 64;
  const uintptr_t end = reinterpret_cast<uintptr_t>(begin) + static_cast<uintptr_t>(bytes);
  for (uintptr_t line = first; line < end; line += 64) {
    const char* address = reinterpret_cast<const char*>(line);
#if defined(__x86_64__)
    asm volatile("prefetcht1 %0" : : "m"(*address));
#else
    __builtin_prefetch(address, 0, 2);
#endif
  }
}

}  // namespace saliency::kernels::cpu
