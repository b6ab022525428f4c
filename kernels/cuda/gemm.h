#pragma once
// Matrix products on the GPU through cuBLAS (the issue allows cuBLAS for GEMMs; everything
// around them is our own kernels). Row-major matrices, as the rest of the engine stores them.
// FP32 by default; SALIENCY_TF32=1 lets cuBLAS use TF32 tensor cores for float (10 mantissa bits
// per product: relative errors of about 1e-3, so the tests run without it).
#include <cstdint>

namespace saliency::kernels::cuda {

// For each of `batch` problems i: C_i[m x n] = op(A_i) op(B_i), where op(A_i) is A_i[m x k] or,
// with transpose_a, the transpose of A_i stored as [k x m] (likewise B_i: [k x n], or stored as
// [n x k] with transpose_b). Leading dimensions are row strides; batch strides may be 0 (one
// matrix shared by every problem, e.g. a layer's weights).
template <typename T>
void gemm_batched(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a,
                  int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, T* c,
                  int64_t ldc, int64_t stride_c, int64_t batch);

// Whether float GEMMs may use TF32 (SALIENCY_TF32=1, read once).
bool tf32_enabled();

}  // namespace saliency::kernels::cuda
