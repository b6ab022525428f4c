#include "kernels/cpu/layer_norm.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {

template <typename T>
void layer_norm_forward(const LayerNormGeometry& g, const T* input, const T* weight, const T* bias,
                        double eps, T* output, T* mean, T* rstd) {
  const int64_t f = g.features;
  parallel_for(0, g.rows, grain_for(f), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* x = input + r * f;
      double sum = 0, square_sum = 0;
      for (int64_t i = 0; i < f; ++i) sum += double(x[i]);
      const double mu = sum / double(f);
      for (int64_t i = 0; i < f; ++i) square_sum += (double(x[i]) - mu) * (double(x[i]) - mu);
      const double inv = 1.0 / std::sqrt(square_sum / double(f) + eps);
      mean[r] = T(mu);
      rstd[r] = T(inv);
      T* y = output + r * f;
      for (int64_t i = 0; i < f; ++i) {
        const double normalized = (double(x[i]) - mu) * inv;
        y[i] = T(normalized * double(weight ? weight[i] : T(1)) + double(bias ? bias[i] : T(0)));
      }
    }
  });
}

template <typename T>
void layer_norm_backward(const LayerNormGeometry& g, const T* grad_output, const T* input,
                         const T* weight, const T* mean, const T* rstd, T* grad_input,
                         T* grad_weight, T* grad_bias) {
  const int64_t f = g.features;
  if (grad_input) {
    parallel_for(0, g.rows, grain_for(f), [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const T* x = input + r * f;
        const T* dy = grad_output + r * f;
        const double mu = double(mean[r]), inv = double(rstd[r]);
        double mean_gw = 0, mean_gw_xhat = 0;
        for (int64_t i = 0; i < f; ++i) {
          const double gw = double(dy[i]) * double(weight ? weight[i] : T(1));
          mean_gw += gw;
          mean_gw_xhat += gw * (double(x[i]) - mu) * inv;
        }
        mean_gw /= double(f);
        mean_gw_xhat /= double(f);
        T* dx = grad_input + r * f;
        for (int64_t i = 0; i < f; ++i) {
          const double gw = double(dy[i]) * double(weight ? weight[i] : T(1));
          const double xhat = (double(x[i]) - mu) * inv;
          dx[i] = T(inv * (gw - mean_gw - xhat * mean_gw_xhat));
        }
      }
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
