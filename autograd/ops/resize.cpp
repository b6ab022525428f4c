#include "autograd/ops/resize.h"

#include "core/error.h"
#include "kernels/cuda/resize.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;
using autograd::OpKind;

namespace {

Tensor resize(OpKind kind, const Tensor& input, int64_t out_h, int64_t out_w) {
  const char* op = autograd::op_name(kind).data();
  SALIENCY_CHECK(input.rank() == 4, op, ": expected input [N, C, H, W], got ", input.shape());
  SALIENCY_CHECK(out_h >= 1 && out_w >= 1 && input.size(2) >= 1 && input.size(3) >= 1, op,
                 ": cannot resize ", input.shape(), " to ", out_h, "x", out_w);
  const cpu::ResizeGeometry g{input.size(0) * input.size(1), input.size(2), input.size(3), out_h,
                              out_w};
  Tensor output =
      Tensor::empty({input.size(0), input.size(1), out_h, out_w}, input.dtype(), input.device());
  const bool nearest = kind == OpKind::ResizeNearest;
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    const T* in = input.device_data<T>();
    T* out = output.device_data<T>();
    if (input.device().is_cuda())
      nearest ? cuda::resize_nearest_forward(g, in, out)
              : cuda::resize_bilinear_forward(g, in, out);
    else
      nearest ? cpu::resize_nearest_forward(g, in, out) : cpu::resize_bilinear_forward(g, in, out);
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
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype(), grad_output.device());
  const bool nearest = kind() == OpKind::ResizeNearest;
  const cpu::ResizeGeometry& g = geometry_;
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    const T* in = grad_output.device_data<T>();
    T* out = grad_input.device_data<T>();
    if (grad_output.device().is_cuda())
      nearest ? cuda::resize_nearest_backward(g, in, out)
              : cuda::resize_bilinear_backward(g, in, out);
    else
      nearest ? cpu::resize_nearest_backward(g, in, out)
              : cpu::resize_bilinear_backward(g, in, out);
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
