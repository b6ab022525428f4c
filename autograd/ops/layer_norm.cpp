#include "autograd/ops/layer_norm.h"

#include "core/error.h"

namespace saliency {

namespace cpu = kernels::cpu;

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
  check_cpu("layer_norm", input);
  const cpu::LayerNormGeometry g{input.numel() / features, features};
  Tensor output = Tensor::empty(input.shape(), input.dtype());
  Tensor mean = Tensor::empty({g.rows}, input.dtype()),
         rstd = Tensor::empty({g.rows}, input.dtype());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    cpu::layer_norm_forward(g, input.data<T>(), weight.defined() ? weight.data<T>() : nullptr,
                            bias.defined() ? bias.data<T>() : nullptr, eps, output.data<T>(),
                            mean.data<T>(), rstd.data<T>());
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
  if (needs[0]) grads[0] = Tensor::empty(input_.shape(), input_.dtype());
  if (needs.size() > 1 && needs[1]) grads[1] = Tensor::empty(weight_.shape(), input_.dtype());
  if (needs.size() > 2 && needs[2]) grads[2] = Tensor::empty({geometry_.features}, input_.dtype());
  dispatch_dtype(input_.dtype(), [&]<typename T>() {
    auto out = [](Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
    cpu::layer_norm_backward(geometry_, grad_output.data<T>(), input_.data<T>(),
                             weight_.defined() ? weight_.data<T>() : nullptr, mean_.data<T>(),
                             rstd_.data<T>(), out(grads[0]), out(grads[1]), out(grads[2]));
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
