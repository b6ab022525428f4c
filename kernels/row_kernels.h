#pragma once
// The per-row arithmetic of layer normalization and softmax, written once for the CPU kernels
// (kernels/cpu/layer_norm.cpp, softmax.cpp: rows spread over the thread pool) and the GPU's
// (kernels/cuda/transformer.cu: one thread per row). Both devices do the same operations in the
// same order, so they agree to the last bit wherever exp and log do.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"

namespace saliency::kernels::rows {

// exp and log in the element's own precision, from the C library on the CPU and CUDA's on the
// GPU.
SALIENCY_HOST_DEVICE inline float exp_of(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  return std::exp(x);
#endif
}
SALIENCY_HOST_DEVICE inline double exp_of(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
SALIENCY_HOST_DEVICE inline float log_of(float x) {
#if defined(__CUDA_ARCH__)
  return logf(x);
#else
  return std::log(x);
#endif
}
SALIENCY_HOST_DEVICE inline double log_of(double x) {
#if defined(__CUDA_ARCH__)
  return ::log(x);
#else
  return std::log(x);
#endif
}

// y = (x - mean) * rstd * w + b over one row of f features, rstd = 1 / sqrt(var + eps) (biased
// variance); the statistics in double. weight and bias may be null.
template <typename T>
SALIENCY_HOST_DEVICE void layer_norm_row(int64_t f, const T* x, const T* weight, const T* bias,
                                         double eps, T* y, T* mean, T* rstd) {
  double sum = 0, square_sum = 0;
  for (int64_t i = 0; i < f; ++i) sum += double(x[i]);
  const double mu = sum / double(f);
  for (int64_t i = 0; i < f; ++i) square_sum += (double(x[i]) - mu) * (double(x[i]) - mu);
  const double inv = 1.0 / sqrt(square_sum / double(f) + eps);
  *mean = T(mu);
  *rstd = T(inv);
  for (int64_t i = 0; i < f; ++i) {
    const double normalized = (double(x[i]) - mu) * inv;
    y[i] = T(normalized * double(weight ? weight[i] : T(1)) + double(bias ? bias[i] : T(0)));
  }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = dy * w, over one row.
template <typename T>
SALIENCY_HOST_DEVICE void layer_norm_row_backward(int64_t f, const T* dy, const T* x,
                                                  const T* weight, T mean, T rstd, T* dx) {
  const double mu = double(mean), inv = double(rstd);
  double mean_gw = 0, mean_gw_xhat = 0;
  for (int64_t i = 0; i < f; ++i) {
    const double gw = double(dy[i]) * double(weight ? weight[i] : T(1));
    mean_gw += gw;
    mean_gw_xhat += gw * (double(x[i]) - mu) * inv;
  }
  mean_gw /= double(f);
  mean_gw_xhat /= double(f);
  for (int64_t i = 0; i < f; ++i) {
    const double gw = double(dy[i]) * double(weight ? weight[i] : T(1));
    const double xhat = (double(x[i]) - mu) * inv;
    dx[i] = T(inv * (gw - mean_gw - xhat * mean_gw_xhat));
  }
}

// Softmax (or log-softmax) of one line: `size` elements `inner` apart from in[0] / out[0].
template <typename T>
SALIENCY_HOST_DEVICE void softmax_line(int64_t size, int64_t inner, bool log, const T* in, T* out) {
  T peak = T(-INFINITY);
  for (int64_t k = 0; k < size; ++k) peak = peak < in[k * inner] ? in[k * inner] : peak;
  T total = 0;
  for (int64_t k = 0; k < size; ++k) total += exp_of(T(in[k * inner] - peak));
  const T log_total = log_of(total);
  for (int64_t k = 0; k < size; ++k) {
    const T shifted = in[k * inner] - peak;
    out[k * inner] = log ? shifted - log_total : exp_of(shifted) / total;
  }
}

// softmax:     grad_input = y * (grad_output - sum(grad_output * y))
// log_softmax: grad_input = grad_output - exp(y) * sum(grad_output)
template <typename T>
SALIENCY_HOST_DEVICE void softmax_line_backward(int64_t size, int64_t inner, bool log,
                                                const T* grad_output, const T* output,
                                                T* grad_input) {
  T dot = 0;
  for (int64_t k = 0; k < size; ++k)
    dot += log ? grad_output[k * inner] : grad_output[k * inner] * output[k * inner];
  for (int64_t k = 0; k < size; ++k) {
    const int64_t i = k * inner;
    grad_input[i] =
        log ? grad_output[i] - exp_of(output[i]) * dot : output[i] * (grad_output[i] - dot);
  }
}

}  // namespace saliency::kernels::rows
