#include "kernels/cuda/check.cuh"
#include "kernels/cuda/linear.h"

namespace saliency::kernels::cuda {

// Consecutive threads take consecutive output features of one row: the input row is shared
// (cached), each weight row read once per batch row.
template <typename T>
void linear_forward(const cpu::LinearGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output) {
  for_each_index("linear", g.batch * g.out_features, [=] __device__(int64_t e) {
    const int64_t row = e / g.out_features, feature = e % g.out_features;
    const T* x = input + row * g.in_features;
    const T* w = weight + feature * g.in_features;
    T sum = T(0);
    for (int64_t k = 0; k < g.in_features; ++k) sum += x[k] * w[k];
    output[e] = bias ? sum + bias[feature] : sum;
  });
}

// Consecutive threads take consecutive input features: weight rows are read coalesced.
template <typename T>
void linear_backward_input(const cpu::LinearGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  for_each_index("linear backward", g.batch * g.in_features, [=] __device__(int64_t e) {
    const int64_t row = e / g.in_features, k = e % g.in_features;
    const T* dy = grad_output + row * g.out_features;
    T sum = T(0);
    for (int64_t o = 0; o < g.out_features; ++o) sum += dy[o] * weight[o * g.in_features + k];
    grad_input[e] = sum;
  });
}

template void linear_forward<float>(const cpu::LinearGeometry&, const float*, const float*,
                                    const float*, float*);
template void linear_forward<double>(const cpu::LinearGeometry&, const double*, const double*,
                                     const double*, double*);
template void linear_backward_input<float>(const cpu::LinearGeometry&, const float*, const float*,
                                           float*);
template void linear_backward_input<double>(const cpu::LinearGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
