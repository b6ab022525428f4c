#include <cublas_v2.h>

#include <cstdlib>
#include <cstring>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/profile.h"

namespace saliency::kernels::cuda {
namespace {

void check_blas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(concat("cuBLAS error in ", what, ": ", cublasGetStatusName(status), " (",
                       cublasGetStatusString(status), ")"));
}

// One handle per host thread (a handle is not meant to be shared between threads), on the
// default stream like every other kernel here, so the products are ordered with them.
cublasHandle_t handle() {
  thread_local struct Handle {
    cublasHandle_t value = nullptr;
    Handle() {
      check_blas(cublasCreate(&value), "cublasCreate");
      check_blas(cublasSetMathMode(
                     value, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                 "cublasSetMathMode");
    }
    ~Handle() { cublasDestroy(value); }
  } h;
  return h.value;
}

// cuBLAS is column-major: a row-major C = op(A) B is the column-major C^T = B^T op(A)^T, so the
// operands go in swapped, each read as its own transpose without a copy.
cublasStatus_t gemm(cublasOperation_t op_a, cublasOperation_t op_b, int n, int m, int k,
                    const float* b, int ldb, int64_t stride_b, const float* a, int lda,
                    int64_t stride_a, float* c, int ldc, int64_t stride_c, int batch) {
  const float one = 1, zero = 0;
  return cublasSgemmStridedBatched(handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda,
                                   stride_a, &zero, c, ldc, stride_c, batch);
}
cublasStatus_t gemm(cublasOperation_t op_a, cublasOperation_t op_b, int n, int m, int k,
                    const double* b, int ldb, int64_t stride_b, const double* a, int lda,
                    int64_t stride_a, double* c, int ldc, int64_t stride_c, int batch) {
  const double one = 1, zero = 0;
  return cublasDgemmStridedBatched(handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda,
                                   stride_a, &zero, c, ldc, stride_c, batch);
}

}  // namespace

bool tf32_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("SALIENCY_TF32");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return enabled;
}

template <typename T>
void gemm_batched(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const T* a,
                  int64_t lda, int64_t stride_a, const T* b, int64_t ldb, int64_t stride_b, T* c,
                  int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  SALIENCY_CHECK(m < (int64_t(1) << 31) && n < (int64_t(1) << 31) && k < (int64_t(1) << 31) &&
                     batch < (int64_t(1) << 31),
                 "GEMM on CUDA: ", m, " x ", n, " x ", k, " (batch ", batch,
                 ") exceeds cuBLAS's 32-bit sizes");
  const ProfiledLaunch timed(profiling() ? concat("gemm ", transpose_a ? "T" : "N",
                                                  transpose_b ? "T " : "N ", m, "x", n, "x", k,
                                                  " batch ", batch)
                                         : std::string());
  check_blas(gemm(transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N, transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                  int(n), int(m), int(k), b, int(ldb), stride_b, a, int(lda), stride_a, c, int(ldc),
                  stride_c, int(batch)),
             "strided batched GEMM");
}

template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, const float*, int64_t,
                                  int64_t, const float*, int64_t, int64_t, float*, int64_t, int64_t,
                                  int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, const double*, int64_t,
                                   int64_t, const double*, int64_t, int64_t, double*, int64_t,
                                   int64_t, int64_t);

}  // namespace saliency::kernels::cuda
