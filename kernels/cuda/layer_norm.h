#pragma once
// Layer normalization on the GPU: kernels/cpu/layer_norm.h's forward and backward (its
// specification, tests/test_cuda_kernels.cpp), one thread per row with the statistics in double
// as there; the weight and bias gradients one thread per feature, rows in order.
#include "kernels/cpu/layer_norm.h"

namespace saliency::kernels::cuda {

template <typename T>
void layer_norm_forward(const cpu::LayerNormGeometry& g, const T* input, const T* weight,
                        const T* bias, double eps, T* output, T* mean, T* rstd);
template <typename T>
void layer_norm_backward(const cpu::LayerNormGeometry& g, const T* grad_output, const T* input,
                         const T* weight, const T* mean, const T* rstd, T* grad_input,
                         T* grad_weight, T* grad_bias);

}  // namespace saliency::kernels::cuda
