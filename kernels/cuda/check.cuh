#pragma once
// Error checking and the common launcher for the .cu files (a .cuh, so it is not installed with
// the public headers: it includes cuda_runtime.h): every runtime call goes through check(),
// every kernel launch is followed by check_launch(), so a failure says which op or call it was.
#include <cuda_runtime.h>

#include <string_view>

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

// Threads per block over one plane's elements: a 7x7 map has 49, so small planes get a warp or
// two rather than kThreads of which most would idle.
inline unsigned plane_threads(int64_t elements) {
  const int64_t warps = (elements + 31) / 32;
  return unsigned(warps < 1 ? 32 : (warps * 32 < kThreads ? warps * 32 : kThreads));
}

// Brackets the launches of its scope with CUDA events under `op` when SALIENCY_CUDA_PROFILE=1
// (profile.h); does nothing otherwise. Scopes may nest (each closes its own record).
class ProfiledLaunch {
 public:
  explicit ProfiledLaunch(std::string_view op);
  ~ProfiledLaunch();
  ProfiledLaunch(const ProfiledLaunch&) = delete;
  ProfiledLaunch& operator=(const ProfiledLaunch&) = delete;

 private:
  int64_t record_ = -1;  // this scope's entry in the record; -1 when not profiling
};

// The grid-stride loop in 32-bit indices when the range fits (64-bit division is emulated on the
// GPU, many instructions each), else in 64-bit. fn receives the index in the loop's type: a
// lambda taking `auto` does its own index arithmetic in 32 bits where it can (its captured
// sizes must then be ints too: an int64_t operand widens the arithmetic again).
template <typename Index, typename Fn>
__global__ void for_each_index_kernel(Index count, Fn fn) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < count;
       i += Index(gridDim.x) * blockDim.x)
    fn(i);
}

// Runs fn(i) (a __device__ lambda) for every i in [0, count) on the default stream, one thread
// per index, and checks the launch under the name `op`. Every elementwise, normalization,
// pooling, linear and plane-copying kernel is one of these.
template <typename Fn>
void for_each_index(const char* op, int64_t count, Fn fn) {
  if (count <= 0) return;
  const ProfiledLaunch timed(op);
  if (count < (int64_t(1) << 31) - int64_t(65535) * kThreads)  // i + stride cannot overflow
    for_each_index_kernel<<<grid_for(count), kThreads>>>(int32_t(count), fn);
  else
    for_each_index_kernel<<<grid_for(count), kThreads>>>(count, fn);
  check_launch(op);
}

// An int copy of a size known to fit (tensor dimensions, plane sizes), for 32-bit index
// arithmetic in kernels.
inline int narrow_to_int(int64_t value, const char* what) {
  SALIENCY_CHECK(value >= 0 && value < (int64_t(1) << 31), what, " (", value,
                 ") does not fit a 32-bit index");
  return static_cast<int>(value);
}

}  // namespace saliency::kernels::cuda
