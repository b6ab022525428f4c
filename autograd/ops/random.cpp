#include "autograd/ops/random.h"

#include "kernels/cpu/random.h"
#include "kernels/cuda/random.h"

namespace saliency {

Tensor normal_noise(const Shape& shape, uint64_t seed, uint64_t first, double stddev, DType dtype,
                    Device device) {
  Tensor noise = Tensor::empty(shape, dtype, device);
  dispatch_dtype(dtype, [&]<typename T>() {
    if (device.is_cuda())
      kernels::cuda::fill_normal(seed, first, noise.numel(), stddev, noise.device_data<T>());
    else
      kernels::cpu::fill_normal(seed, first, noise.numel(), stddev, noise.data<T>());
  });
  return noise;
}

}  // namespace saliency
