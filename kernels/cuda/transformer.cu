// The ViT's row-wise kernels on the GPU: layer normalization and softmax, one thread per row
// running the CPU's own row code (kernels/row_kernels.h), which is enough parallelism at a
// batch's rows x heads x tokens.
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/softmax.h"
#include "kernels/row_kernels.h"

namespace saliency::kernels::cuda {

template <typename T>
void layer_norm_forward(const cpu::LayerNormGeometry& g, const T* input, const T* weight,
                        const T* bias, double eps, T* output, T* mean, T* rstd) {
  const int64_t f = g.features;
  for_each_index("layer_norm", g.rows, [=] __device__(int64_t r) {
    rows::layer_norm_row(f, input + r * f, weight, bias, eps, output + r * f, mean + r, rstd + r);
  });
}

// The weight and bias gradients one thread per feature, rows in order as the CPU sums them.
template <typename T>
void layer_norm_backward(const cpu::LayerNormGeometry& g, const T* grad_output, const T* input,
                         const T* weight, const T* mean, const T* rstd, T* grad_input,
                         T* grad_weight, T* grad_bias) {
  const int64_t f = g.features, count = g.rows;
  if (grad_input)
    for_each_index("layer_norm backward", count, [=] __device__(int64_t r) {
      rows::layer_norm_row_backward(f, grad_output + r * f, input + r * f, weight, mean[r], rstd[r],
                                    grad_input + r * f);
    });
  if (!grad_weight && !grad_bias) return;
  for_each_index("layer_norm weight gradient", f, [=] __device__(int64_t i) {
    double weight_sum = 0, bias_sum = 0;
    for (int64_t r = 0; r < count; ++r) {
      const double dy = double(grad_output[r * f + i]);
      weight_sum += dy * (double(input[r * f + i]) - double(mean[r])) * double(rstd[r]);
      bias_sum += dy;
    }
    if (grad_weight) grad_weight[i] = T(weight_sum);
    if (grad_bias) grad_bias[i] = T(bias_sum);
  });
}

template <typename T>
void softmax_forward(const cpu::SoftmaxGeometry& g, bool log, const T* input, T* output) {
  const int64_t size = g.size, inner = g.inner;
  for_each_index("softmax", g.outer * inner, [=] __device__(int64_t line) {
    const int64_t base = line / inner * size * inner + line % inner;
    rows::softmax_line(size, inner, log, input + base, output + base);
  });
}

template <typename T>
void softmax_backward(const cpu::SoftmaxGeometry& g, bool log, const T* grad_output,
                      const T* output, T* grad_input) {
  const int64_t size = g.size, inner = g.inner;
  for_each_index("softmax backward", g.outer * inner, [=] __device__(int64_t line) {
    const int64_t base = line / inner * size * inner + line % inner;
    rows::softmax_line_backward(size, inner, log, grad_output + base, output + base,
                                grad_input + base);
  });
}

#define SALIENCY_INSTANTIATE_CUDA_TRANSFORMER(T)                                                   \
  template void layer_norm_forward<T>(const cpu::LayerNormGeometry&, const T*, const T*, const T*, \
                                      double, T*, T*, T*);                                         \
  template void layer_norm_backward<T>(const cpu::LayerNormGeometry&, const T*, const T*,          \
                                       const T*, const T*, const T*, T*, T*, T*);                  \
  template void softmax_forward<T>(const cpu::SoftmaxGeometry&, bool, const T*, T*);               \
  template void softmax_backward<T>(const cpu::SoftmaxGeometry&, bool, const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_TRANSFORMER(float)
SALIENCY_INSTANTIATE_CUDA_TRANSFORMER(double)

}  // namespace saliency::kernels::cuda
