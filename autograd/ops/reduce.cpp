#include "autograd/ops/reduce.h"

#include <algorithm>

#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "kernels/cuda/softmax.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;
using autograd::OpKind;

namespace {

Tensor reduce(const char* op, const Tensor& input, std::vector<int64_t> axes, bool keepdim,
              bool average) {
  std::vector<int64_t> kept = input.shape().dims();
  std::vector<int64_t> dropped;
  for (int64_t& axis : axes) axis = input.shape().normalize_dim(axis, op);
  int64_t count = 1;
  for (int64_t d = 0; d < input.rank(); ++d) {
    if (std::find(axes.begin(), axes.end(), d) != axes.end()) {
      count *= kept[d];
      kept[d] = 1;
    } else {
      dropped.push_back(kept[d]);
    }
  }
  const double scale = average ? 1.0 / double(std::max<int64_t>(count, 1)) : 1.0;
  // On detached values: the graph gets one SumNode below, not the nodes of these helpers.
  Tensor reduced = sum_to_shape(input.detach(), Shape(kept));
  if (reduced.shares_storage_with(input)) reduced = reduced.clone();  // nothing was reduced
  if (scale != 1.0) reduced = scale_shift(reduced, scale, 0.0);
  Tensor output = reduced.view(keepdim ? Shape(kept) : Shape(dropped));
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::SumNode>(autograd::edges_to({&input}), input.shape(),
                                                  Shape(kept), scale));
}

std::vector<int64_t> all_axes(const Tensor& input) {
  std::vector<int64_t> axes(static_cast<size_t>(input.rank()));
  for (int64_t d = 0; d < input.rank(); ++d) axes[d] = d;
  return axes;
}

Tensor softmax_op(OpKind kind, const Tensor& input, int64_t dim) {
  const char* op = autograd::op_name(kind).data();
  const int64_t axis = input.shape().normalize_dim(dim, op);
  cpu::SoftmaxGeometry g{1, input.size(axis), 1};
  for (int64_t d = 0; d < axis; ++d) g.outer *= input.size(d);
  for (int64_t d = axis + 1; d < input.rank(); ++d) g.inner *= input.size(d);
  const bool log = kind == OpKind::LogSoftmax;
  Tensor output = Tensor::empty(input.shape(), input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cuda())
      cuda::softmax_forward(g, log, input.device_data<T>(), output.device_data<T>());
    else
      cpu::softmax_forward(g, log, input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::SoftmaxNode>(
                                      kind, autograd::edges_to({&input}), output.detach(), g));
}

}  // namespace

Tensor sum(const Tensor& input) {
  return reduce("sum", input, all_axes(input), false, false);
}
Tensor sum(const Tensor& input, std::vector<int64_t> axes, bool keepdim) {
  return reduce("sum", input, std::move(axes), keepdim, false);
}
Tensor mean(const Tensor& input) {
  return reduce("mean", input, all_axes(input), false, true);
}
Tensor mean(const Tensor& input, std::vector<int64_t> axes, bool keepdim) {
  return reduce("mean", input, std::move(axes), keepdim, true);
}
Tensor softmax(const Tensor& input, int64_t dim) {
  return softmax_op(OpKind::Softmax, input, dim);
}
Tensor log_softmax(const Tensor& input, int64_t dim) {
  return softmax_op(OpKind::LogSoftmax, input, dim);
}

namespace autograd {

TensorList SumNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor spread = broadcast_to_shape(grad_output.view(kept_shape_), input_shape_);
  if (spread.shares_storage_with(grad_output)) spread = spread.clone();
  return {scale_ == 1.0 ? spread : mul_scalar(spread, scale_)};
}

TensorList SoftmaxNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  check_same_dtype_device(name().data(), grad_output, output_);
  Tensor grad_input = Tensor::empty(output_.shape(), output_.dtype(), output_.device());
  const bool log = kind() == OpKind::LogSoftmax;
  dispatch_dtype(output_.dtype(), [&]<typename T>() {
    if (output_.device().is_cuda())
      cuda::softmax_backward(geometry_, log, grad_output.device_data<T>(), output_.device_data<T>(),
                             grad_input.device_data<T>());
    else
      cpu::softmax_backward(geometry_, log, grad_output.data<T>(), output_.data<T>(),
                            grad_input.data<T>());
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
