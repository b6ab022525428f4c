#include "autograd/ops/linear.h"

#include "autograd/flop_counter.h"
#include "core/error.h"
#include "kernels/cuda/linear.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  SALIENCY_CHECK(input.rank() == 2 && weight.rank() == 2 && input.size(1) == weight.size(1),
                 "linear: expected input [N, in] and weight [out, in], got input ", input.shape(),
                 " and weight ", weight.shape());
  const cpu::LinearGeometry g{input.size(0), input.size(1), weight.size(0)};
  if (bias.defined()) {
    SALIENCY_CHECK(bias.rank() == 1 && bias.size(0) == g.out_features, "linear: bias ",
                   bias.shape(), " does not match ", g.out_features, " outputs");
    check_same_dtype_device("linear", input, bias);
  }
  check_same_dtype_device("linear", input, weight);
  Tensor output = Tensor::empty({g.batch, g.out_features}, input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(2.0 * g.batch * g.in_features * g.out_features);
    if (input.device().is_cuda())
      cuda::linear_forward(g, input.device_data<T>(), weight.device_data<T>(),
                           bias.defined() ? bias.device_data<T>() : nullptr,
                           output.device_data<T>());
    else
      cpu::linear_forward(g, input.data<T>(), weight.data<T>(),
                          bias.defined() ? bias.data<T>() : nullptr, output.data<T>());
  });
  if (!autograd::should_record({&input, &weight, &bias})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::LinearNode>(autograd::edges_to({&input, &weight, &bias}),
                                                     input.detach(), weight.detach(),
                                                     bias.defined() ? bias.detach() : Tensor(), g));
}

Tensor linear_input_gradient(const Tensor& grad_output, const Tensor& weight) {
  SALIENCY_CHECK(
      grad_output.rank() == 2 && weight.rank() == 2 && grad_output.size(1) == weight.size(0),
      "linear_input_gradient: gradient ", grad_output.shape(), " does not match weight ",
      weight.shape());
  check_same_dtype_device("linear_input_gradient", grad_output, weight);
  const cpu::LinearGeometry g{grad_output.size(0), weight.size(1), weight.size(0)};
  Tensor grad_input = Tensor::empty({g.batch, g.in_features}, weight.dtype(), weight.device());
  dispatch_dtype(weight.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(2.0 * g.batch * g.in_features * g.out_features);
    if (weight.device().is_cuda())
      cuda::linear_backward_input(g, grad_output.device_data<T>(), weight.device_data<T>(),
                                  grad_input.device_data<T>());
    else
      cpu::linear_backward_input(g, grad_output.data<T>(), weight.data<T>(), grad_input.data<T>());
  });
  return grad_input;
}

namespace autograd {

TensorList LinearNode::default_backward(const Tensor& grad_output, const InputMask& needs) const {
  TensorList grads(3);
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    if (needs[0]) grads[0] = linear_input_gradient(grad_output, weight_);
    const Device device = grad_output.device();
    if (needs[1]) {
      check_same_dtype_device("linear weight gradient", grad_output, input_);
      grads[1] = Tensor::empty(weight_.shape(), weight_.dtype(), device);
      FlopCounter::add(2.0 * geometry_.batch * geometry_.in_features * geometry_.out_features);
      if (device.is_cuda())
        cuda::linear_backward_weight(geometry_, grad_output.device_data<T>(),
                                     input_.device_data<T>(), grads[1].device_data<T>());
      else
        cpu::linear_backward_weight(geometry_, grad_output.data<T>(), input_.data<T>(),
                                    grads[1].data<T>());
    }
    if (needs[2]) {
      grads[2] = Tensor::empty({geometry_.out_features}, grad_output.dtype(), device);
      if (device.is_cuda())
        cuda::linear_backward_bias(geometry_, grad_output.device_data<T>(),
                                   grads[2].device_data<T>());
      else
        cpu::linear_backward_bias(geometry_, grad_output.data<T>(), grads[2].data<T>());
    }
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
