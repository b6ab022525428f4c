#include "autograd/ops/pooling.h"

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/trace.h"
#include "core/error.h"
#include "kernels/cuda/pooling.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;
using autograd::OpKind;

namespace {

cpu::PoolGeometry pool_geometry(const char* op, const Tensor& input, const Pool2dOptions& o) {
  SALIENCY_CHECK(input.rank() == 4, op, ": expected input [N, C, H, W], got ", input.shape());
  const Size2 stride = o.stride.h == 0 && o.stride.w == 0 ? o.kernel : o.stride;
  cpu::PoolGeometry g{.planes = input.size(0) * input.size(1),
                      .in_h = input.size(2),
                      .in_w = input.size(3),
                      .kernel_h = o.kernel.h,
                      .kernel_w = o.kernel.w,
                      .stride_h = stride.h,
                      .stride_w = stride.w,
                      .pad_h = o.padding.h,
                      .pad_w = o.padding.w};
  SALIENCY_CHECK(g.kernel_h >= 1 && g.kernel_w >= 1 && g.stride_h >= 1 && g.stride_w >= 1, op,
                 ": kernel and stride must be >= 1");
  SALIENCY_CHECK(
      g.pad_h >= 0 && g.pad_w >= 0 && 2 * g.pad_h <= g.kernel_h && 2 * g.pad_w <= g.kernel_w, op,
      ": padding must be at most half the kernel, got padding ", g.pad_h, "x", g.pad_w,
      " for kernel ", g.kernel_h, "x", g.kernel_w);
  SALIENCY_CHECK(g.in_h + 2 * g.pad_h >= g.kernel_h && g.in_w + 2 * g.pad_w >= g.kernel_w, op,
                 ": input ", input.shape(), " is smaller than the kernel ", g.kernel_h, "x",
                 g.kernel_w);
  return g;
}

Shape pooled_shape(const Tensor& input, int64_t out_h, int64_t out_w) {
  return {input.size(0), input.size(1), out_h, out_w};
}

Tensor attach_avg_pool(const Tensor& input, const Tensor& output,
                       std::shared_ptr<autograd::AvgPoolNode> node) {
  if (autograd::SaveForRulesGuard::active()) node->save_for_rules(input.detach(), output.detach());
  return autograd::attach(output, std::move(node));
}

}  // namespace

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options) {
  const cpu::PoolGeometry g = pool_geometry("max_pool2d", input, options);
  Tensor output =
      Tensor::empty(pooled_shape(input, g.out_h(), g.out_w()), input.dtype(), input.device());
  auto argmax = std::make_shared<autograd::PoolArgmax>();
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cuda()) {
      argmax->device = std::make_unique<cuda::DeviceArray<int32_t>>(output.numel());
      cuda::max_pool2d_forward(g, input.device_data<T>(), output.device_data<T>(),
                               argmax->device->data());
      return;
    }
    argmax->host = std::make_unique<cpu::Scratch<int32_t>>(output.numel());
    cpu::max_pool2d_forward(g, input.data<T>(), output.data<T>(), argmax->host->data());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::MaxPoolNode>(autograd::edges_to({&input}), input.shape(),
                                                      g, std::move(argmax)));
}

Tensor relu_max_pool2d(const Tensor& input, const Pool2dOptions& options) {
  if (!input.device().is_cpu() || autograd::SaveForRulesGuard::active() ||
      autograd::TraceScope::active())
    return max_pool2d(relu(input), options);
  const cpu::PoolGeometry g = pool_geometry("relu_max_pool2d", input, options);
  Tensor output = Tensor::empty(pooled_shape(input, g.out_h(), g.out_w()), input.dtype());
  auto argmax = std::make_shared<autograd::PoolArgmax>();
  argmax->host = std::make_unique<cpu::Scratch<int32_t>>(output.numel());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    cpu::max_pool2d_forward_of_relu(g, input.data<T>(), output.data<T>(), argmax->host->data());
  });
  if (!autograd::should_record({&input})) return output;
  auto relu_node = autograd::ReluNode::keeping_input(autograd::edges_to({&input}), input.detach());
  return autograd::attach(output, std::make_shared<autograd::MaxPoolNode>(
                                      std::vector<autograd::Edge>{{std::move(relu_node)}},
                                      input.shape(), g, std::move(argmax)));
}

Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options) {
  const cpu::PoolGeometry g = pool_geometry("avg_pool2d", input, options);
  const Shape out_shape = pooled_shape(input, g.out_h(), g.out_w());
  Tensor output = Tensor::empty(out_shape, input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cuda())
      cuda::avg_pool2d_forward(g, options.count_include_pad, input.device_data<T>(),
                               output.device_data<T>());
    else
      cpu::avg_pool2d_forward(g, options.count_include_pad, input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return attach_avg_pool(input, output,
                         std::make_shared<autograd::AvgPoolNode>(
                             OpKind::AvgPool2d, autograd::edges_to({&input}), input.shape(),
                             out_shape, g, options.count_include_pad));
}

Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size) {
  SALIENCY_CHECK(input.rank() == 4, "adaptive_avg_pool2d: expected input [N, C, H, W], got ",
                 input.shape());
  SALIENCY_CHECK(output_size.h >= 1 && output_size.w >= 1, "adaptive_avg_pool2d: output size ",
                 output_size.h, "x", output_size.w, " must be positive");
  const cpu::PoolGeometry g{
      .planes = input.size(0) * input.size(1), .in_h = input.size(2), .in_w = input.size(3)};
  const Shape out_shape = pooled_shape(input, output_size.h, output_size.w);
  Tensor output = Tensor::empty(out_shape, input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cuda())
      cuda::adaptive_avg_pool2d_forward(g.planes, g.in_h, g.in_w, output_size.h, output_size.w,
                                        input.device_data<T>(), output.device_data<T>());
    else
      cpu::adaptive_avg_pool2d_forward(g.planes, g.in_h, g.in_w, output_size.h, output_size.w,
                                       input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return attach_avg_pool(input, output,
                         std::make_shared<autograd::AvgPoolNode>(
                             OpKind::AdaptiveAvgPool2d, autograd::edges_to({&input}), input.shape(),
                             out_shape, g, true));
}

namespace autograd {

TensorList MaxPoolNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype(), grad_output.device());
  SALIENCY_CHECK(grad_output.device().is_cuda() == bool(argmax_->device),
                 "max_pool2d backward: gradient on ", grad_output.device().str(),
                 ", the pooling ran on another device");
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    if (argmax_->device)
      cuda::max_pool2d_backward(geometry_, grad_output.device_data<T>(), argmax_->device->data(),
                                grad_input.device_data<T>());
    else
      cpu::max_pool2d_backward(geometry_, grad_output.data<T>(), argmax_->host->data(),
                               grad_input.data<T>());
  });
  return {grad_input};
}

Tensor MaxPoolNode::backward_through_relu(const Tensor& grad_output,
                                          const Tensor& relu_passed) const {
  SALIENCY_CHECK(grad_output.device().is_cpu() && argmax_->host && relu_passed.device().is_cpu() &&
                     relu_passed.shape() == input_shape_ &&
                     relu_passed.dtype() == grad_output.dtype(),
                 "max_pool2d backward through a ReLU: expected the ReLU's ", input_shape_,
                 " on the CPU with the gradient's dtype, got ", relu_passed.shape());
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype());
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    cpu::max_pool2d_backward_through_relu(geometry_, grad_output.data<T>(), argmax_->host->data(),
                                          relu_passed.data<T>(), grad_input.data<T>());
  });
  return grad_input;
}

TensorList AvgPoolNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype(), grad_output.device());
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    if (kind() == OpKind::AvgPool2d && grad_output.device().is_cuda())
      cuda::avg_pool2d_backward(geometry_, count_include_pad_, grad_output.device_data<T>(),
                                grad_input.device_data<T>());
    else if (kind() == OpKind::AdaptiveAvgPool2d && grad_output.device().is_cuda())
      cuda::adaptive_avg_pool2d_backward(geometry_.planes, geometry_.in_h, geometry_.in_w,
                                         output_shape_[2], output_shape_[3],
                                         grad_output.device_data<T>(), grad_input.device_data<T>());
    else if (kind() == OpKind::AdaptiveAvgPool2d)
      cpu::adaptive_avg_pool2d_backward(geometry_.planes, geometry_.in_h, geometry_.in_w,
                                        output_shape_[2], output_shape_[3], grad_output.data<T>(),
                                        grad_input.data<T>());
    else
      cpu::avg_pool2d_backward(geometry_, count_include_pad_, grad_output.data<T>(),
                               grad_input.data<T>());
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
