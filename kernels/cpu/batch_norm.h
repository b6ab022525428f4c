#pragma once
// Batch normalization over NCHW: y = (x - mean[c]) * inv_std[c] * weight[c] + bias[c].
// Inference passes running statistics as mean / inv_std; training passes batch statistics.
// weight and bias may be null (affine = false).
#include <cstdint>

namespace saliency::kernels::cpu {

struct BatchNormGeometry {
  int64_t batch = 1, channels = 1, plane = 1;  // plane = H * W
};

template <typename T>
void batch_norm_forward(const BatchNormGeometry& g, const T* input, const T* mean, const T* inv_std,
                        const T* weight, const T* bias, T* output);

// Per-channel batch mean and biased variance.
template <typename T>
void batch_norm_statistics(const BatchNormGeometry& g, const T* input, T* mean, T* variance);

// Statistics held constant (inference): grad_input = grad_output * weight * inv_std.
template <typename T>
void batch_norm_backward_input_frozen(const BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input);

// Statistics from this batch (training): also differentiates through mean and variance.
template <typename T>
void batch_norm_backward_input_batch_stats(const BatchNormGeometry& g, const T* grad_output,
                                           const T* input, const T* mean, const T* inv_std,
                                           const T* weight, T* grad_input);

// grad_weight[c] = sum grad_output * x_hat, grad_bias[c] = sum grad_output (either may be null).
template <typename T>
void batch_norm_backward_params(const BatchNormGeometry& g, const T* grad_output, const T* input,
                                const T* mean, const T* inv_std, T* grad_weight, T* grad_bias);

}  // namespace saliency::kernels::cpu
