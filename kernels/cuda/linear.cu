#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/indexing.h"
#include "kernels/cuda/linear.h"

namespace saliency::kernels::cuda {

// output [N, out] = input [N, in] weight[out, in]^T, then the bias per column.
template <typename T>
void linear_forward(const cpu::LinearGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output) {
  gemm_batched(false, true, g.batch, g.out_features, g.in_features, input, g.in_features, 0, weight,
               g.in_features, 0, output, g.out_features, 0, 1);
  if (bias) add_channel_bias(g.batch * g.out_features, g.out_features, 1, bias, output);
}

// grad_input [N, in] = grad_output [N, out] weight [out, in].
template <typename T>
void linear_backward_input(const cpu::LinearGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  gemm_batched(false, false, g.batch, g.in_features, g.out_features, grad_output, g.out_features, 0,
               weight, g.in_features, 0, grad_input, g.in_features, 0, 1);
}

template <typename T>
void linear_backward_weight(const cpu::LinearGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight) {
  gemm_batched(true, false, g.out_features, g.in_features, g.batch, grad_output, g.out_features, 0,
               input, g.in_features, 0, grad_weight, g.in_features, 0, 1);
}

template <typename T>
void linear_backward_bias(const cpu::LinearGeometry& g, const T* grad_output, T* grad_bias) {
  sum_to({g.batch, g.out_features}, {0, 1}, g.out_features, grad_output, grad_bias);
}

template void linear_backward_weight<float>(const cpu::LinearGeometry&, const float*, const float*,
                                            float*);
template void linear_backward_weight<double>(const cpu::LinearGeometry&, const double*,
                                             const double*, double*);
template void linear_backward_bias<float>(const cpu::LinearGeometry&, const float*, float*);
template void linear_backward_bias<double>(const cpu::LinearGeometry&, const double*, double*);
template void linear_forward<float>(const cpu::LinearGeometry&, const float*, const float*,
                                    const float*, float*);
template void linear_forward<double>(const cpu::LinearGeometry&, const double*, const double*,
                                     const double*, double*);
template void linear_backward_input<float>(const cpu::LinearGeometry&, const float*, const float*,
                                           float*);
template void linear_backward_input<double>(const cpu::LinearGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
