#pragma once
// Row-major GEMM: C[m x n] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T.
// A is m x k (k x m when transposed) with row stride lda; likewise B and C. Where Eigen does the
// arithmetic, it does so in one translation unit (gemm.cpp) so its templates are compiled once.
#include <cstdint>

namespace saliency::kernels::cpu {

struct GemmArgs {
  bool transpose_a = false;
  bool transpose_b = false;
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
};

// Single-threaded. Float products of 8 or more rows run on the packed AVX-512 kernel
// (gemm_packed.h) where the build has one; the rest on Eigen.
template <typename T>
void gemm(const GemmArgs& args, T alpha, const T* a, const T* b, T beta, T* c);

// The same product on the thread pool, bit-identical to gemm() and to itself on any thread
// count: the packed kernel shares out blocks of C whose k order is fixed; on Eigen the larger
// of m and n is split into parts fixed by the shape, each a single-threaded Eigen GEMM.
template <typename T>
void parallel_gemm(const GemmArgs& args, T alpha, const T* a, const T* b, T beta, T* c);

// One A against a batch of B and C matrices: C_i = alpha op(A) op(B_i) + beta C_i with
// B_i = b + i * b_stride, C_i = c + i * c_stride (a pointwise convolution over a batch of images).
struct BatchedColumns {
  int64_t batch = 1, b_stride = 0, c_stride = 0;
};

// What a product does to each value of C as it is finally stored, with the same rounding as
// passes of their own, in this order: adds its row's bias; adds an addend laid out as C (the same
// image strides and ldc: a residual in the forward, a gradient accumulated in the backward);
// applies a ReLU (max(0, x), NaN -> 0, as relu_forward); keeps the value only where a relu_mask
// laid out as C is > 0, 0 elsewhere (a ReLU's backward: relu_backward's values).
template <typename T>
struct RowEpilogue {
  const T* bias = nullptr;
  bool relu = false;
  const T* relu_mask = nullptr;
  const T* addend = nullptr;
};

// The batched product on the thread pool; the packed kernel runs it as one product whose
// columns span the images (the weights are then read once per block of columns, not once per
// image), Eigen as one parallel_gemm per image. Same results as parallel_gemm per image followed
// by the epilogue, which the packed path applies as the last k slice is stored.
template <typename T>
void parallel_gemm_batched(const GemmArgs& args, const BatchedColumns& batch, T alpha, const T* a,
                           const T* b, T beta, T* c, RowEpilogue<T> epilogue = {});

// Eigen's GEMM, single-threaded, whatever the shape: the reference the packed kernel is tested
// against.
template <typename T>
void eigen_gemm(const GemmArgs& args, T alpha, const T* a, const T* b, T beta, T* c);

}  // namespace saliency::kernels::cpu
