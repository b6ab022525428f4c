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

// Threads per block of the elementwise-style kernels, and the blocks to cover `count` elements:
// at most 65535, as every such kernel loops grid-stride over the rest.
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

}  // namespace saliency::kernels::cuda
