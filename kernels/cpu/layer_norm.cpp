#include "kernels/cpu/layer_norm.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"
#include "kernels/row_kernels.h"

namespace saliency::kernels::cpu {

template <typename T>
void layer_norm_forward(const LayerNormGeometry& g, const T* input, const T* weight, const T* bias,
                        double eps, T* output, T* mean, T* rstd) {
  const int64_t f = g.features;
  parallel_for(0, g.rows, grain_for(f), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r)
      rows::layer_norm_row(f, input + r * f, weight, bias, eps, output + r * f, mean + r, rstd + r);
  });
}

template <typename T>
void layer_norm_backward(const LayerNormGeometry& g, const T* grad_output, const T* input,
                         const T* weight, const T* mean, const T* rstd, T* grad_input,
                         T* grad_weight, T* grad_bias) {
  const int64_t f = g.features;
  if (grad_input) {
    parallel_for(0, g.rows, grain_for(f), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r)
        rows::layer_norm_row_backward(f, grad_output + r * f, input + r * f, weight, mean[r],
                                      rstd[r], grad_input + r * f);
    });
  }
  if (!grad_weight && !grad_bias) return;
  // Column sums over rows, serial in row order: the same result on any thread count.
  std::vector<double> weight_sum(size_t(f), 0.0), bias_sum(size_t(f), 0.0);
  for (int64_t r = 0; r < g.rows; ++r) {
    const T* x = input + r * f;
    const T* dy = grad_output + r * f;
    for (int64_t i = 0; i < f; ++i) {
      weight_sum[size_t(i)] += double(dy[i]) * (double(x[i]) - double(mean[r])) * double(rstd[r]);
      bias_sum[size_t(i)] += double(dy[i]);
    }
  }
  for (int64_t i = 0; i < f; ++i) {
    if (grad_weight) grad_weight[i] = T(weight_sum[size_t(i)]);
    if (grad_bias) grad_bias[i] = T(bias_sum[size_t(i)]);
  }
}

#define SALIENCY_INSTANTIATE_LAYER_NORM(T)                                                     \
  template void layer_norm_forward<T>(const LayerNormGeometry&, const T*, const T*, const T*,  \
                                      double, T*, T*, T*);                                     \
  template void layer_norm_backward<T>(const LayerNormGeometry&, const T*, const T*, const T*, \
                                       const T*, const T*, T*, T*, T*);
SALIENCY_INSTANTIATE_LAYER_NORM(float)
SALIENCY_INSTANTIATE_LAYER_NORM(double)

}  // namespace saliency::kernels::cpu
