#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/check.cuh"

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

#define SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(T)                                                    \
  template void batch_norm_forward<T>(const cpu::BatchNormGeometry&, const T*, const T*, const T*, \
                                      const T*, const T*, T*);                                     \
  template void batch_norm_backward_input_frozen<T>(const cpu::BatchNormGeometry&, const T*,       \
                                                    const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(float)
SALIENCY_INSTANTIATE_CUDA_BATCH_NORM(double)

}  // namespace saliency::kernels::cuda
