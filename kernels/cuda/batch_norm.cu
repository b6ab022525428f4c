#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {

// One thread per element; the channel's scale and shift formed as the CPU kernel forms them.
template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* input, const T* mean,
                        const T* inv_std, const T* weight, const T* bias, T* output) {
  for_each_index("batch_norm2d", g.batch * g.channels * g.plane, [=] __device__(int64_t e) {
    const int64_t c = e / g.plane % g.channels;
    const T scale = inv_std[c] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
    output[e] = input[e] * scale + shift;
  });
}

template <typename T>
void batch_norm_backward_input_frozen(const cpu::BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input) {
  for_each_index("batch_norm2d backward", g.batch * g.channels * g.plane,
                 [=] __device__(int64_t e) {
                   const int64_t c = e / g.plane % g.channels;
                   grad_input[e] = grad_output[e] * (inv_std[c] * (weight ? weight[c] : T(1)));
                 });
}

namespace {

// The block's sum of `value` in double, in thread 0 (blockDim.x = kThreads, a power of two).
__device__ double block_sum(double value, double* shared) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // the next call may overwrite shared
  return total;
}

// The element index of the channel's i-th value (images in order, then the plane).
__device__ inline int64_t channel_element(const cpu::BatchNormGeometry& g, int64_t channel,
                                          int64_t i) {
  return (i / g.plane * g.channels + channel) * g.plane + i % g.plane;
}

// One block per channel: mean, then the mean square deviation (two passes, as the CPU).
template <typename T>
__global__ void statistics_kernel(cpu::BatchNormGeometry g, const T* input, T* mean, T* variance) {
  __shared__ double shared[kThreads];
  const int64_t channel = blockIdx.x, count = g.batch * g.plane;
  double sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x)
    sum += input[channel_element(g, channel, i)];
  const double m = block_sum(sum, shared) / double(count);
  double squares = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const double centered = input[channel_element(g, channel, i)] - m;
    squares += centered * centered;
  }
  const double total_squares = block_sum(squares, shared);
  if (threadIdx.x == 0) {
    mean[channel] = T(m);
    variance[channel] = T(total_squares / double(count));
  }
}

// One block per channel: sum(grad_output) and sum(grad_output * (x - mean)) into sums[2 c],
// sums[2 c + 1], with the CPU's roundings (x - mean in T, the products and sums in double).
template <typename T>
__global__ void gradient_sums_kernel(cpu::BatchNormGeometry g, const T* grad_output, const T* input,
                                     const T* mean, double* sums) {
  __shared__ double shared[kThreads];
  const int64_t channel = blockIdx.x, count = g.batch * g.plane;
  double sum_grad = 0, sum_grad_centered = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const int64_t e = channel_element(g, channel, i);
    sum_grad += grad_output[e];
    sum_grad_centered += double(grad_output[e]) * (input[e] - mean[channel]);
  }
  sum_grad = block_sum(sum_grad, shared);
  sum_grad_centered = block_sum(sum_grad_centered, shared);
  if (threadIdx.x == 0) {
    sums[2 * channel] = sum_grad;
    sums[2 * channel + 1] = sum_grad_centered;
  }
}

template <typename T>
DeviceArray<double> gradient_sums(const cpu::BatchNormGeometry& g, const T* grad_output,
                                  const T* input, const T* mean) {
  DeviceArray<double> sums(2 * g.channels);
  const ProfiledLaunch timed("batch_norm2d gradient sums");
  gradient_sums_kernel<<<unsigned(g.channels), kThreads>>>(g, grad_output, input, mean,
                                                           sums.data());
  check_launch("batch_norm2d gradient sums");
  return sums;
}

}  // namespace

template <typename T>
void batch_norm_statistics(const cpu::BatchNormGeometry& g, const T* input, T* mean, T* variance) {
  if (g.channels == 0) return;
  narrow_to_int(g.channels, "batch_norm2d: the channel count");
  const ProfiledLaunch timed("batch_norm2d statistics");
  statistics_kernel<<<unsigned(g.channels), kThreads>>>(g, input, mean, variance);
  check_launch("batch_norm2d statistics");
}

template <typename T>
void batch_norm_backward_input_batch_stats(const cpu::BatchNormGeometry& g, const T* grad_output,
                                           const T* input, const T* mean, const T* inv_std,
                                           const T* weight, T* grad_input) {
  if (g.channels == 0) return;
  narrow_to_int(g.channels, "batch_norm2d: the channel count");
  const DeviceArray<double> sums = gradient_sums(g, grad_output, input, mean);
  const double* s = sums.data();
  const double count = double(g.batch * g.plane);
  // dx = w * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat)), in the CPU's order.
  for_each_index("batch_norm2d backward (batch statistics)", g.batch * g.channels * g.plane,
                 [=] __device__(int64_t e) {
                   const int64_t c = e / g.plane % g.channels;
                   const double istd = inv_std[c], scale = istd * (weight ? weight[c] : T(1));
                   const double mean_grad = s[2 * c] / count;
                   const double projection = s[2 * c + 1] / count * istd * istd;
                   const double centered = input[e] - mean[c];
                   grad_input[e] = T(scale * (grad_output[e] - mean_grad - centered * projection));
                 });
}

template <typename T>
void batch_norm_backward_params(const cpu::BatchNormGeometry& g, const T* grad_output,
                                const T* input, const T* mean, const T* inv_std, T* grad_weight,
                                T* grad_bias) {
  if (g.channels == 0) return;
  narrow_to_int(g.channels, "batch_norm2d: the channel count");
  const DeviceArray<double> sums = gradient_sums(g, grad_output, input, mean);
  const double* s = sums.data();
  for_each_index("batch_norm2d parameter gradients", g.channels, [=] __device__(int64_t c) {
    if (grad_weight) grad_weight[c] = T(s[2 * c + 1] * inv_std[c]);
    if (grad_bias) grad_bias[c] = T(s[2 * c]);
  });
}

#define SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(T)                                                    \
  template void batch_norm_forward<T>(const cpu::BatchNormGeometry&, const T*, const T*, const T*, \
                                      const T*, const T*, T*);                                     \
  template void batch_norm_backward_input_frozen<T>(const cpu::BatchNormGeometry&, const T*,       \
                                                    const T*, const T*, T*);                       \
  template void batch_norm_statistics<T>(const cpu::BatchNormGeometry&, const T*, T*, T*);         \
  template void batch_norm_backward_input_batch_stats<T>(                                          \
      const cpu::BatchNormGeometry&, const T*, const T*, const T*, const T*, const T*, T*);        \
  template void batch_norm_backward_params<T>(const cpu::BatchNormGeometry&, const T*, const T*,   \
                                              const T*, const T*, T*, T*);
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(float)
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(double)

}  // namespace saliency::kernels::cuda
