#include "autograd/ops/blur.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/blur.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

namespace {

Tensor gaussian_weights(int64_t kernel_size, double sigma, DType dtype) {
  std::vector<double> values(static_cast<size_t>(kernel_size));
  const double radius = double(kernel_size - 1) / 2.0;
  double total = 0;
  for (int64_t i = 0; i < kernel_size; ++i) {
    const double x = double(i) - radius;
    values[i] = std::exp(-0.5 * (x / sigma) * (x / sigma));
    total += values[i];
  }
  Tensor weights = Tensor::empty({kernel_size}, dtype);
  dispatch_dtype(dtype, [&]<typename T>() {
    for (int64_t i = 0; i < kernel_size; ++i) weights.data<T>()[i] = T(values[i] / total);
  });
  return weights;
}

}  // namespace

Tensor gaussian_blur(const Tensor& input, int64_t kernel_size, double sigma) {
  SALIENCY_CHECK(input.rank() == 4, "gaussian_blur: expected input [N, C, H, W], got ",
                 input.shape());
  SALIENCY_CHECK(kernel_size >= 1 && kernel_size % 2 == 1 && sigma > 0,
                 "gaussian_blur: kernel size must be odd and positive and sigma > 0, got ",
                 kernel_size, " and ", sigma);
  SALIENCY_CHECK(kernel_size / 2 < input.size(2) && kernel_size / 2 < input.size(3),
                 "gaussian_blur: kernel radius ", kernel_size / 2,
                 " needs an input larger than that on both sides, got ", input.shape());
  const cpu::BlurGeometry g{input.size(0) * input.size(1), input.size(2), input.size(3),
                            kernel_size};
  const Tensor weights = gaussian_weights(kernel_size, sigma, input.dtype()).to(input.device());
  Tensor output = Tensor::empty(input.shape(), input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    const T* w = weights.device_data<T>();
    if (input.device().is_cuda())
      cuda::separable_blur_forward(g, w, input.device_data<T>(), output.device_data<T>());
    else
      cpu::separable_blur_forward(g, w, input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::BlurNode>(autograd::edges_to({&input}),
                                                                       weights, g, input.shape()));
}

namespace autograd {

TensorList BlurNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  check_same_dtype_device("gaussian_blur backward", grad_output, weights_);
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype(), grad_output.device());
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    const T* w = weights_.device_data<T>();
    if (grad_output.device().is_cuda())
      cuda::separable_blur_backward(geometry_, w, grad_output.device_data<T>(),
                                    grad_input.device_data<T>());
    else
      cpu::separable_blur_backward(geometry_, w, grad_output.data<T>(), grad_input.data<T>());
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
