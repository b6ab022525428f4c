#include "autograd/ops/layer_norm.h"

#include "core/error.h"
#include "kernels/cuda/layer_norm.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

Tensor layer_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, double eps) {
  SALIENCY_CHECK(input.rank() >= 1 && input.numel() > 0, "layer_norm: expected a non-empty ",
                 "input [..., F], got ", input.shape());
  const int64_t features = input.size(input.rank() - 1);
  for (const Tensor* p : {&weight, &bias})
    if (p->defined()) {
      SALIENCY_CHECK(p->shape() == Shape({features}), "layer_norm: weight/bias ", p->shape(),
                     " does not match ", features, " features");
      check_same_dtype_device("layer_norm", input, *p);
    }
  SALIENCY_CHECK(eps >= 0, "layer_norm: eps must be non-negative, got ", eps);
  const cpu::LayerNormGeometry g{input.numel() / features, features};
  const Device device = input.device();
  Tensor output = Tensor::empty(input.shape(), input.dtype(), device);
  Tensor mean = Tensor::empty({g.rows}, input.dtype(), device),
         rstd = Tensor::empty({g.rows}, input.dtype(), device);
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    const auto p = [](const Tensor& t) { return t.defined() ? t.device_data<T>() : nullptr; };
    if (device.is_cuda())
      cuda::layer_norm_forward(g, p(input), p(weight), p(bias), eps, p(output), p(mean), p(rstd));
    else
      cpu::layer_norm_forward(g, p(input), p(weight), p(bias), eps, p(output), p(mean), p(rstd));
  });
  if (!autograd::should_record({&input, &weight, &bias})) return output;
  return autograd::attach(output,
                          std::make_shared<autograd::LayerNormNode>(
                              autograd::edges_to({&input, &weight, &bias}), input.detach(),
                              weight.defined() ? weight.detach() : Tensor(), mean, rstd, g));
}

namespace autograd {

TensorList LayerNormNode::default_backward(const Tensor& grad_output,
                                           const InputMask& needs) const {
  TensorList grads(3);
  const Device device = input_.device();
  check_same_dtype_device("layer_norm backward", grad_output, input_);
  if (needs[0]) grads[0] = Tensor::empty(input_.shape(), input_.dtype(), device);
  if (needs.size() > 1 && needs[1])
    grads[1] = Tensor::empty(weight_.shape(), input_.dtype(), device);
  if (needs.size() > 2 && needs[2])
    grads[2] = Tensor::empty({geometry_.features}, input_.dtype(), device);
  dispatch_dtype(input_.dtype(), [&]<typename T>() {
    const auto p = [](const Tensor& t) { return t.defined() ? t.device_data<T>() : nullptr; };
    if (device.is_cuda())
      cuda::layer_norm_backward(geometry_, p(grad_output), p(input_), p(weight_), p(mean_),
                                p(rstd_), p(grads[0]), p(grads[1]), p(grads[2]));
    else
      cpu::layer_norm_backward(geometry_, p(grad_output), p(input_), p(weight_), p(mean_), p(rstd_),
                               p(grads[0]), p(grads[1]), p(grads[2]));
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
