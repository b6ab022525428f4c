#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/check.cuh"

namespace saliency::kernels::cuda {
namespace {

// One thread per element; the channel's scale and shift as the CPU kernel forms them.
template <typename T>
__global__ void batch_norm_forward_kernel(cpu::BatchNormGeometry g, const T* input, const T* mean,
                                          const T* inv_std, const T* weight, const T* bias,
                                          T* output) {
  const int64_t total = g.batch * g.channels * g.plane;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e / g.plane % g.channels;
    const T scale = inv_std[c] * (weight ? weight[c] : T(1));
    const T shift = (bias ? bias[c] : T(0)) - mean[c] * scale;
    output[e] = input[e] * scale + shift;
  }
}

template <typename T>
__global__ void batch_norm_backward_frozen_kernel(cpu::BatchNormGeometry g, const T* grad_output,
                                                  const T* inv_std, const T* weight,
                                                  T* grad_input) {
  const int64_t total = g.batch * g.channels * g.plane;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e / g.plane % g.channels;
    grad_input[e] = grad_output[e] * (inv_std[c] * (weight ? weight[c] : T(1)));
  }
}

}  // namespace

template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* input, const T* mean,
                        const T* inv_std, const T* weight, const T* bias, T* output) {
  batch_norm_forward_kernel<<<grid_for(g.batch * g.channels * g.plane), kThreads>>>(
      g, input, mean, inv_std, weight, bias, output);
  check_launch("batch_norm2d");
}

template <typename T>
void batch_norm_backward_input_frozen(const cpu::BatchNormGeometry& g, const T* grad_output,
                                      const T* inv_std, const T* weight, T* grad_input) {
  batch_norm_backward_frozen_kernel<<<grid_for(g.batch * g.channels * g.plane), kThreads>>>(
      g, grad_output, inv_std, weight, grad_input);
  check_launch("batch_norm2d backward");
}

#define SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(T)                                                    \
  template void batch_norm_forward<T>(const cpu::BatchNormGeometry&, const T*, const T*, const T*, \
                                      const T*, const T*, T*);                                     \
  template void batch_norm_backward_input_frozen<T>(const cpu::BatchNormGeometry&, const T*,       \
                                                    const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(float)
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(double)

}  // namespace saliency::kernels::cuda
