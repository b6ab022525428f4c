#pragma once
// Batch normalization on the GPU, the counterpart of kernels/cpu/batch_norm.h (device pointers;
// weight and bias may be null). The per-channel sums of training (statistics, gradient sums)
// are one block per channel, in double as on the CPU but in a tree order, so they match the CPU
// to float rounding rather than bit for bit; the elementwise parts use the CPU's arithmetic.
#include "kernels/cpu/batch_norm.h"

namespace saliency::kernels::cuda {

template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* input, const T* mean,
                        const T* inv_std, const T* weight, const T* bias, T* output);

// grad_input = grad_output * weight * inv_std (statistics held constant).
template <typename T>
void batch_norm_backward_input_frozen(const cpu::BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input);

// Per-channel batch mean and biased variance (two passes).
template <typename T>
void batch_norm_statistics(const cpu::BatchNormGeometry& g, const T* input, T* mean, T* variance);

// Statistics from this batch (training): also differentiates through mean and variance.
template <typename T>
void batch_norm_backward_input_batch_stats(const cpu::BatchNormGeometry& g, const T* grad_output,
                                           const T* input, const T* mean, const T* inv_std,
                                           const T* weight, T* grad_input);

// grad_weight[c] = sum grad_output * x_hat, grad_bias[c] = sum grad_output (either may be null).
template <typename T>
void batch_norm_backward_params(const cpu::BatchNormGeometry& g, const T* grad_output,
                                const T* input, const T* mean, const T* inv_std, T* grad_weight,
                                T* grad_bias);

}  // namespace saliency::kernels::cuda
