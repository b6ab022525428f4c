#pragma once
// Row-major GEMM: C[m x n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
// A is m x k (k x m when transposed) with row stride lda; likewise B and C. Eigen does the
// arithmetic in one translation unit (gemm.cpp) so its templates are compiled once.
#include <cstdint>

namespace saliency::kernels::cpu {

struct GemmArgs {
  bool transpose_a = false;
  bool transpose_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

// Single-threaded.
template <typename T>
void gemm(const GemmArgs& args, T alpha, const T* a, const T* b, T beta, T* c);

// Splits the larger of m and n into parts fixed by the shape (not the thread count) and runs
// them on the threads, each a single-threaded gemm: bit-identical results on any thread count.
template <typename T>
void parallel_gemm(const GemmArgs& args, T alpha, const T* a, const T* b, T beta, T* c);

}  // namespace saliency::kernels::cpu
