#pragma once
// Inference-time batch normalization on the GPU, the counterpart of kernels/cpu/batch_norm.h's
// frozen-statistics path (device pointers; weight and bias may be null).
#include "kernels/cpu/batch_norm.h"

namespace saliency::kernels::cuda {

template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* input, const T* mean,
                        const T* inv_std, const T* weight, const T* bias, T* output);

// grad_input = grad_output * weight * inv_std (statistics held constant).
template <typename T>
void batch_norm_backward_input_frozen(const cpu::BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input);

}  // namespace saliency::kernels::cuda
