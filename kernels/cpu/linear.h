#pragma once
// Fully connected layer on row-major buffers: output[N, out] = input[N, in] * weight[out, in]^T
// + bias[out]. Bias may be null.
#include <cstdint>

namespace saliency::kernels::cpu {

struct LinearGeometry {
  int64_t batch = 1, in_features = 1, out_features = 1;
};

template <typename T>
void linear_forward(const LinearGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output);
template <typename T>
void linear_backward_input(const LinearGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input);
template <typename T>
void linear_backward_weight(const LinearGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight);
template <typename T>
void linear_backward_bias(const LinearGeometry& g, const T* grad_output, T* grad_bias);

}  // namespace saliency::kernels::cpu
