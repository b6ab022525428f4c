#pragma once
// Error checking and the common launcher for the .cu files (a .cuh, so it is not installed with
// the public headers: it includes cuda_runtime.h): every runtime call goes through check(),
// every kernel launch is followed by check_launch(), so a failure says which op or call it was.
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

// Threads per block of the one-thread-per-element kernels, and the blocks to cover `count`
// elements: at most 65535, as the kernel loops grid-stride over the rest.
constexpr int kThreads = 256;
inline unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

template <typename Fn>
__global__ void for_each_index_kernel(int64_t count, Fn fn) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    fn(i);
}

// Runs fn(i) (a __device__ lambda) for every i in [0, count) on the default stream, one thread
// per index, and checks the launch under the name `op`. Every elementwise, normalization,
// pooling, linear and plane-copying kernel is one of these.
template <typename Fn>
void for_each_index(const char* op, int64_t count, Fn fn) {
  if (count <= 0) return;
  for_each_index_kernel<<<grid_for(count), kThreads>>>(count, fn);
  check_launch(op);
}

}  // namespace saliency::kernels::cuda
