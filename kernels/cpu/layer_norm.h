#pragma once
// Layer normalization over the last dimension: rows x features, y = (x - mean) * rstd * w + b
// with rstd = 1 / sqrt(var + eps) (biased variance), as torch.nn.LayerNorm.
#include <cstdint>

namespace saliency::kernels::cpu {

struct LayerNormGeometry {
  int64_t rows = 0, features = 0;
};

// Writes the output and, per row, the mean and rstd the backward needs. Statistics are
// accumulated in double.
template <typename T>
void layer_norm_forward(const LayerNormGeometry& g, const T* input, const T* weight, const T* bias,
                        double eps, T* output, T* mean, T* rstd);

// grad_input = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = grad_output * w;
// grad_weight = sum over rows of grad_output * xhat; grad_bias = sum of grad_output. Any of the
// three outputs may be null (not wanted).
template <typename T>
void layer_norm_backward(const LayerNormGeometry& g, const T* grad_output, const T* input,
                         const T* weight, const T* mean, const T* rstd, T* grad_input,
                         T* grad_weight, T* grad_bias);

}  // namespace saliency::kernels::cpu
