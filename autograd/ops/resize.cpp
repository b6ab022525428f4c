#include "autograd/ops/resize.h"

#include "core/error.h"

namespace saliency {

namespace cpu = kernels::cpu;
using autograd::OpKind;

namespace {

Tensor resize(OpKind kind, const Tensor& input, int64_t out_h, int64_t out_w) {
  const char* op = autograd::op_name(kind).data();
  SALIENCY_CHECK(input.rank() == 4, op, ": expected input [N, C, H, W], got ", input.shape());
  SALIENCY_CHECK(out_h >= 1 && out_w >= 1 && input.size(2) >= 1 && input.size(3) >= 1, op,
                 ": cannot resize ", input.shape(), " to ", out_h, "x", out_w);
  check_cpu(op, input);
  const cpu::ResizeGeometry g{input.size(0) * input.size(1), input.size(2), input.size(3), out_h,
                              out_w};
  Tensor output = Tensor::empty({input.size(0), input.size(1), out_h, out_w}, input.dtype());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (kind == OpKind::ResizeNearest)
      cpu::resize_nearest_forward(g, input.data<T>(), output.data<T>());
    else
      cpu::resize_bilinear_forward(g, input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::ResizeNode>(
                                      kind, autograd::edges_to({&input}), input.shape(), g));
}

}  // namespace

Tensor resize_bilinear(const Tensor& input, int64_t out_h, int64_t out_w) {
  return resize(OpKind::ResizeBilinear, input, out_h, out_w);
}

Tensor resize_nearest(const Tensor& input, int64_t out_h, int64_t out_w) {
  return resize(OpKind::ResizeNearest, input, out_h, out_w);
}

namespace autograd {

TensorList ResizeNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype());
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    if (kind() == OpKind::ResizeNearest)
      cpu::resize_nearest_backward(geometry_, grad_output.data<T>(), grad_input.data<T>());
    else
      cpu::resize_bilinear_backward(geometry_, grad_output.data<T>(), grad_input.data<T>());
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
