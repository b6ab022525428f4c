#pragma once
// Error checking for the .cu files (a .cuh, so it is not installed with the public headers: it
// includes cuda_runtime.h): every runtime call goes through check(), every kernel
// launch is followed by check_launch(), so a failure says which op or call it was.
#include <cuda_runtime.h>

#include "core/error.h"

namespace saliency::kernels::cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw Error(concat("CUDA error in ", what, ": ", cudaGetErrorName(status), " (",
                       cudaGetErrorString(status), ")"));
}

// Launch errors (a bad configuration) show at once; faults inside the kernel surface at the next
// synchronizing call, whose check() then names it.
inline void check_launch(const char* op) {
  check(cudaGetLastError(), op);
}

// Blocks of this many threads for elementwise kernels, and enough blocks to cover `count`.
constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t count) {
  return static_cast<unsigned>((count + kThreads - 1) / kThreads);
}

}  // namespace saliency::kernels::cuda
