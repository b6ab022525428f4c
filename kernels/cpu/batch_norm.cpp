#include "kernels/cpu/batch_norm.h"

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

// Calls fn(plane_pointer_offset) for every (image, channel) plane of `channel`.
template <typename Fn>
void for_each_plane_of_channel(const BatchNormGeometry& g, int64_t channel, Fn fn) {
  for (int64_t image = 0; image < g.batch; ++image) fn((image * g.channels + channel) * g.plane);
}

// Per-channel sums of grad_output and grad_output * (x - mean), in double for stability.
template <typename T>
void gradient_sums(const BatchNormGeometry& g, int64_t channel, const T* grad_output,
                   const T* input, T mean, double& sum_grad, double& sum_grad_centered) {
  sum_grad = 0, sum_grad_centered = 0;
  for_each_plane_of_channel(g, channel, [&](int64_t offset) {
    for (int64_t i = 0; i < g.plane; ++i) {
      sum_grad += grad_output[offset + i];
      sum_grad_centered += double(grad_output[offset + i]) * (input[offset + i] - mean);
    }
  });
}

}  // namespace

template <typename T>
void batch_norm_forward(const BatchNormGeometry& g, const T* input, const T* mean, const T* inv_std,
                        const T* weight, const T* bias, T* output) {
  parallel_for(0, g.batch * g.channels, grain_for(g.plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t c = p % g.channels;
      const T scale = inv_std[c] * (weight ? weight[c] : T(1));
      const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
      const T* x = input + p * g.plane;
      T* y = output + p * g.plane;
      for (int64_t i = 0; i < g.plane; ++i) y[i] = x[i] * scale + shift;
    }
  });
}

template <typename T>
void batch_norm_statistics(const BatchNormGeometry& g, const T* input, T* mean, T* variance) {
  const double count = double(g.batch * g.plane);
  parallel_for(0, g.channels, grain_for(g.batch * g.plane), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      double sum = 0;
      for_each_plane_of_channel(g, c, [&](int64_t offset) {
        for (int64_t i = 0; i < g.plane; ++i) sum += input[offset + i];
      });
      const double m = sum / count;
      double squares = 0;  // two passes: no cancellation from E[x^2] - E[x]^2
      for_each_plane_of_channel(g, c, [&](int64_t offset) {
        for (int64_t i = 0; i < g.plane; ++i)
          squares += (input[offset + i] - m) * (input[offset + i] - m);
      });
      mean[c] = T(m);
      variance[c] = T(squares / count);
    }
  });
}

template <typename T>
void batch_norm_backward_input_frozen(const BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input) {
  parallel_for(0, g.batch * g.channels, grain_for(g.plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      const int64_t c = p % g.channels;
      const T scale = inv_std[c] * (weight ? weight[c] : T(1));
      const T* gy = grad_output + p * g.plane;
      T* gx = grad_input + p * g.plane;
      for (int64_t i = 0; i < g.plane; ++i) gx[i] = gy[i] * scale;
    }
  });
}

template <typename T>
void batch_norm_backward_input_batch_stats(const BatchNormGeometry& g, const T* grad_output,
                                           const T* input, const T* mean, const T* inv_std,
                                           const T* weight, T* grad_input) {
  const double count = double(g.batch * g.plane);
  parallel_for(0, g.channels, grain_for(g.batch * g.plane), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      double sum_grad, sum_grad_centered;
      gradient_sums(g, c, grad_output, input, mean[c], sum_grad, sum_grad_centered);
      // dx = w * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
      const double istd = inv_std[c], scale = istd * (weight ? weight[c] : T(1));
      const double mean_grad = sum_grad / count;
      const double projection = sum_grad_centered / count * istd * istd;
      for_each_plane_of_channel(g, c, [&](int64_t offset) {
        for (int64_t i = 0; i < g.plane; ++i) {
          const double centered = input[offset + i] - mean[c];
          grad_input[offset + i] =
              T(scale * (grad_output[offset + i] - mean_grad - centered * projection));
        }
      });
    }
  });
}

template <typename T>
void batch_norm_backward_params(const BatchNormGeometry& g, const T* grad_output, const T* input,
                                const T* mean, const T* inv_std, T* grad_weight, T* grad_bias) {
  parallel_for(0, g.channels, grain_for(g.batch * g.plane), [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      double sum_grad, sum_grad_centered;
      gradient_sums(g, c, grad_output, input, mean[c], sum_grad, sum_grad_centered);
      if (grad_weight) grad_weight[c] = T(sum_grad_centered * inv_std[c]);
      if (grad_bias) grad_bias[c] = T(sum_grad);
    }
  });
}

#define SALIENCY_INSTANTIATE_BATCH_NORM(T)                                                        \
  template void batch_norm_forward<T>(const BatchNormGeometry&, const T*, const T*, const T*,     \
                                      const T*, const T*, T*);                                    \
  template void batch_norm_statistics<T>(const BatchNormGeometry&, const T*, T*, T*);             \
  template void batch_norm_backward_input_frozen<T>(const BatchNormGeometry&, const T*, const T*, \
                                                    const T*, T*);                                \
  template void batch_norm_backward_input_batch_stats<T>(                                         \
      const BatchNormGeometry&, const T*, const T*, const T*, const T*, const T*, T*);            \
  template void batch_norm_backward_params<T>(const BatchNormGeometry&, const T*, const T*,       \
                                              const T*, const T*, T*, T*);
SALIENCY_INSTANTIATE_BATCH_NORM(float)
SALIENCY_INSTANTIATE_BATCH_NORM(double)

}  // namespace saliency::kernels::cpu
