#include "kernels/cpu/linear.h"

#include "kernels/cpu/gemm.h"

namespace saliency::kernels::cpu {

template <typename T>
void linear_forward(const LinearGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output) {
  T beta = T(0);
  if (bias != nullptr) {
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t o = 0; o < g.out_features; ++o) output[n * g.out_features + o] = bias[o];
    beta = T(1);
  }
  parallel_gemm<T>({.transpose_b = true,
                    .m = g.batch,
                    .n = g.out_features,
                    .k = g.in_features,
                    .lda = g.in_features,
                    .ldb = g.in_features,
                    .ldc = g.out_features},
                   T(1), input, weight, beta, output);
}

template <typename T>
void linear_backward_input(const LinearGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  parallel_gemm<T>({.m = g.batch,
                    .n = g.in_features,
                    .k = g.out_features,
                    .lda = g.out_features,
                    .ldb = g.in_features,
                    .ldc = g.in_features},
                   T(1), grad_output, weight, T(0), grad_input);
}

template <typename T>
void linear_backward_weight(const LinearGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight) {
  parallel_gemm<T>({.transpose_a = true,
                    .m = g.out_features,
                    .n = g.in_features,
                    .k = g.batch,
                    .lda = g.out_features,
                    .ldb = g.in_features,
                    .ldc = g.in_features},
                   T(1), grad_output, input, T(0), grad_weight);
}

template <typename T>
void linear_backward_bias(const LinearGeometry& g, const T* grad_output, T* grad_bias) {
  for (int64_t o = 0; o < g.out_features; ++o) {
    T total = 0;
    for (int64_t n = 0; n < g.batch; ++n) total += grad_output[n * g.out_features + o];
    grad_bias[o] = total;
  }
}

#define SALIENCY_INSTANTIATE_LINEAR(T)                                                      \
  template void linear_forward<T>(const LinearGeometry&, const T*, const T*, const T*, T*); \
  template void linear_backward_input<T>(const LinearGeometry&, const T*, const T*, T*);    \
  template void linear_backward_weight<T>(const LinearGeometry&, const T*, const T*, T*);   \
  template void linear_backward_bias<T>(const LinearGeometry&, const T*, T*);
SALIENCY_INSTANTIATE_LINEAR(float)
SALIENCY_INSTANTIATE_LINEAR(double)

}  // namespace saliency::kernels::cpu
