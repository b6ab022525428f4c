#include "autograd/ops/elementwise.h"

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/indexing.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;
using autograd::attach;
using autograd::edges_to;
using autograd::OpKind;
using autograd::should_record;

namespace {

// A new tensor like `like`, filled by fn.template operator()<T>(T* out).
template <typename Fn>
Tensor produce(const char* op, const Tensor& like, const Shape& shape, Fn fn) {
  check_cpu(op, like);
  Tensor output = Tensor::empty(shape, like.dtype());
  dispatch_dtype(like.dtype(), [&]<typename T>() { fn.template operator()<T>(output.data<T>()); });
  return output;
}

// The same for an op with a CUDA kernel too: each function gets the output's pointer on the
// device the operand `like` lives on.
template <typename CpuFn, typename CudaFn>
Tensor produce(const char* op, const Tensor& like, const Shape& shape, CpuFn cpu_fn,
               CudaFn cuda_fn) {
  if (!like.device().is_cuda()) return produce(op, like, shape, cpu_fn);
  Tensor output = Tensor::empty(shape, like.dtype(), like.device());
  dispatch_dtype(like.dtype(),
                 [&]<typename T>() { cuda_fn.template operator()<T>(output.device_data<T>()); });
  return output;
}

Tensor unary(OpKind kind, cpu::UnaryOp op, const Tensor& input) {
  const char* name = autograd::op_name(kind).data();
  Tensor output = produce(
      name, input, input.shape(),
      [&]<typename T>(T* out) { cpu::unary_forward(op, input.numel(), input.data<T>(), out); },
      [&]<typename T>(T* out) {
        cuda::unary_forward(op, input.numel(), input.device_data<T>(), out);
      });
  if (!should_record({&input})) return output;
  return attach(output,
                std::make_shared<autograd::UnaryNode>(kind, edges_to({&input}), input.detach()));
}

std::vector<int64_t> contiguous_strides(const Shape& shape) {
  std::vector<int64_t> strides(static_cast<size_t>(shape.rank()));
  int64_t stride = 1;
  for (int64_t d = shape.rank() - 1; d >= 0; --d) {
    strides[d] = stride;
    stride *= shape[d];
  }
  return strides;
}

// Strides of `operand` over the dimensions of `out`, right-aligned, 0 where broadcast.
std::vector<int64_t> broadcast_strides(const Shape& operand, const Shape& out) {
  const std::vector<int64_t> own = contiguous_strides(operand);
  std::vector<int64_t> strides(static_cast<size_t>(out.rank()), 0);
  const int64_t lead = out.rank() - operand.rank();
  for (int64_t d = 0; d < operand.rank(); ++d)
    strides[lead + d] = operand[d] == 1 && out[lead + d] != 1 ? 0 : own[d];
  return strides;
}

Tensor binary(OpKind kind, cpu::BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = autograd::op_name(kind).data();
  check_same_dtype_device(name, a, b);
  const Shape out_shape = broadcast_shapes(name, a.shape(), b.shape());
  const cpu::BroadcastLayout layout{out_shape.dims(), broadcast_strides(a.shape(), out_shape),
                                    broadcast_strides(b.shape(), out_shape)};
  Tensor output = produce(
      name, a, out_shape,
      [&]<typename T>(T* out) { cpu::binary_forward(op, layout, a.data<T>(), b.data<T>(), out); },
      [&]<typename T>(T* out) {
        if (a.shape() == b.shape())
          cuda::binary_same_shape(op, a.numel(), a.device_data<T>(), b.device_data<T>(), out);
        else
          cuda::binary_broadcast(op, layout, a.device_data<T>(), b.device_data<T>(), out);
      });
  if (!should_record({&a, &b})) return output;
  const bool saves_operands = kind == OpKind::Mul || autograd::SaveForRulesGuard::active();
  return attach(output, std::make_shared<autograd::BinaryNode>(
                            kind, edges_to({&a, &b}), saves_operands ? a.detach() : Tensor(),
                            saves_operands ? b.detach() : Tensor(), a.shape(), b.shape()));
}

}  // namespace

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const int64_t rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t da = d < rank - a.rank() ? 1 : a[d - (rank - a.rank())];
    const int64_t db = d < rank - b.rank() ? 1 : b[d - (rank - b.rank())];
    SALIENCY_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a, " and ", b,
                   " do not broadcast");
    dims[d] = da == 1 ? db : da;
  }
  return Shape(dims);
}

Tensor sum_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  SALIENCY_CHECK(broadcast_shapes("sum_to_shape", grad.shape(), shape) == grad.shape(),
                 "sum_to_shape: ", grad.shape(), " does not reduce to ", shape);
  const std::vector<int64_t> strides = broadcast_strides(shape, grad.shape());
  return produce(
      "sum_to_shape", grad, shape,
      [&]<typename T>(T* out) {
        cpu::sum_to(grad.shape().dims(), strides, shape.numel(), grad.data<T>(), out);
      },
      [&]<typename T>(T* out) {
        cuda::sum_to(grad.shape().dims(), strides, shape.numel(), grad.device_data<T>(), out);
      });
}

Tensor broadcast_to_shape(const Tensor& tensor, const Shape& shape) {
  if (tensor.shape() == shape) return tensor;
  SALIENCY_CHECK(broadcast_shapes("broadcast_to_shape", tensor.shape(), shape) == shape,
                 "broadcast_to_shape: ", tensor.shape(), " does not broadcast to ", shape);
  const std::vector<int64_t> strides = broadcast_strides(tensor.shape(), shape);
  return produce(
      "broadcast_to_shape", tensor, shape,
      [&]<typename T>(T* out) { cpu::broadcast_to(shape.dims(), strides, tensor.data<T>(), out); },
      [&]<typename T>(T* out) {
        cuda::strided_copy(shape.dims(), strides, tensor.device_data<T>(),
                           contiguous_strides(shape), out);
      });
}

Tensor relu(const Tensor& input) {
  Tensor output = produce(
      "relu", input, input.shape(),
      [&]<typename T>(T* out) { cpu::relu_forward(input.numel(), input.data<T>(), out); },
      [&]<typename T>(T* out) { cuda::relu_forward(input.numel(), input.device_data<T>(), out); });
  if (!should_record({&input})) return output;
  return attach(output, std::make_shared<autograd::ReluNode>(edges_to({&input}), output.detach()));
}

Tensor relu_backward_guided(const Tensor& grad_output, const Tensor& relu_output) {
  SALIENCY_CHECK(grad_output.shape() == relu_output.shape(), "relu_backward_guided: gradient ",
                 grad_output.shape(), " does not match output ", relu_output.shape());
  check_same_dtype_device("relu_backward_guided", grad_output, relu_output);
  return produce(
      "relu_backward_guided", grad_output, grad_output.shape(),
      [&]<typename T>(T* out) {
        cpu::relu_backward_guided(grad_output.numel(), grad_output.data<T>(), relu_output.data<T>(),
                                  out);
      },
      [&]<typename T>(T* out) {
        cuda::relu_backward_guided(grad_output.numel(), grad_output.device_data<T>(),
                                   relu_output.device_data<T>(), out);
      });
}

Tensor relu_backward_deconvnet(const Tensor& grad_output) {
  return produce(
      "relu_backward_deconvnet", grad_output, grad_output.shape(),
      [&]<typename T>(T* out) {
        cpu::relu_backward_deconvnet(grad_output.numel(), grad_output.data<T>(), out);
      },
      [&]<typename T>(T* out) {
        cuda::relu_backward_deconvnet(grad_output.numel(), grad_output.device_data<T>(), out);
      });
}

Tensor abs(const Tensor& input) {
  return unary(OpKind::Abs, cpu::UnaryOp::Abs, input);
}
Tensor square(const Tensor& input) {
  return unary(OpKind::Square, cpu::UnaryOp::Square, input);
}
Tensor gelu(const Tensor& input) {
  return unary(OpKind::Gelu, cpu::UnaryOp::Gelu, input);
}

Tensor scale_shift(const Tensor& input, double scale, double shift) {
  Tensor output = produce(
      "scale_shift", input, input.shape(),
      [&]<typename T>(T* out) {
        cpu::scale_shift(input.numel(), T(scale), T(shift), input.data<T>(), out);
      },
      [&]<typename T>(T* out) {
        cuda::scale_shift(input.numel(), T(scale), T(shift), input.device_data<T>(), out);
      });
  if (!should_record({&input})) return output;
  return attach(output, std::make_shared<autograd::ScaleShiftNode>(edges_to({&input}), scale));
}

Tensor mul_scalar(const Tensor& input, double scale) {
  return scale_shift(input, scale, 0.0);
}
Tensor add_scalar(const Tensor& input, double shift) {
  return scale_shift(input, 1.0, shift);
}

namespace {

// The scalars of scaled_copies / add_weighted_rows in the operands' type.
template <typename T>
std::vector<T> narrowed(const std::vector<double>& values) {
  return std::vector<T>(values.begin(), values.end());
}

void check_row_operands(const char* op, const Tensor& one_row, const Tensor& other) {
  SALIENCY_CHECK(one_row.rank() >= 1 && one_row.size(0) == 1 && other.rank() == one_row.rank() &&
                     other.dtype() == one_row.dtype() && other.device() == one_row.device(),
                 op, ": operands ", one_row.shape(), " and ", other.shape(),
                 " must be one row [1, ...] and rows of the same shape, dtype and device");
  for (int64_t d = 1; d < one_row.rank(); ++d)
    SALIENCY_CHECK(one_row.size(d) == other.size(d), op, ": rows ", other.shape(), " do not match ",
                   one_row.shape());
}

}  // namespace

Tensor scaled_copies(const Tensor& base, const Tensor& direction,
                     const std::vector<double>& scales) {
  check_row_operands("scaled_copies", base, direction);
  SALIENCY_CHECK(direction.size(0) == 1, "scaled_copies: direction ", direction.shape(),
                 " must be one row");
  Shape shape = base.shape();
  shape[0] = int64_t(scales.size());
  Tensor output = Tensor::empty(shape, base.dtype(), base.device());
  const Tensor &b = base, &d = direction;
  dispatch_dtype(base.dtype(), [&]<typename T>() {
    const std::vector<T> s = narrowed<T>(scales);
    if (base.device().is_cuda())
      cuda::scaled_copies(b.numel(), b.device_data<T>(), d.device_data<T>(), s.data(),
                          int64_t(s.size()), output.device_data<T>());
    else
      cpu::scaled_copies(b.numel(), b.data<T>(), d.data<T>(), s.data(), int64_t(s.size()),
                         output.data<T>());
  });
  return output;
}

Tensor add_weighted_rows(const Tensor& accumulator, const Tensor& rows,
                         const std::vector<double>& weights) {
  check_row_operands("add_weighted_rows", accumulator, rows);
  SALIENCY_CHECK(rows.size(0) == int64_t(weights.size()), "add_weighted_rows: ", weights.size(),
                 " weights for ", rows.size(0), " rows");
  Tensor output = accumulator.clone();
  const Tensor& r = rows;
  dispatch_dtype(rows.dtype(), [&]<typename T>() {
    const std::vector<T> w = narrowed<T>(weights);
    if (rows.device().is_cuda())
      cuda::accumulate_weighted_rows(output.numel(), r.device_data<T>(), w.data(),
                                     int64_t(w.size()), output.device_data<T>());
    else
      cpu::accumulate_weighted_rows(output.numel(), r.data<T>(), w.data(), int64_t(w.size()),
                                    output.data<T>());
  });
  return output;
}

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(OpKind::Add, cpu::BinaryOp::Add, a, b);
}
Tensor add_relu(const Tensor& a, const Tensor& b) {
  const bool fused = a.device().is_cpu() && b.device().is_cpu() && a.shape() == b.shape() &&
                     a.dtype() == b.dtype() && !autograd::SaveForRulesGuard::active();
  if (!fused) return relu(add(a, b));
  Tensor output = produce("add_relu", a, a.shape(), [&]<typename T>(T* out) {
    cpu::add_relu_forward(a.numel(), a.data<T>(), b.data<T>(), out);
  });
  if (!should_record({&a, &b})) return output;
  // The add and ReLU nodes of the plain ops; the sum itself is not kept (the add's backward
  // needs only shapes), so the add node hangs on an alias of the output.
  const Tensor sum = attach(output.detach(), std::make_shared<autograd::BinaryNode>(
                                                 OpKind::Add, edges_to({&a, &b}), Tensor(),
                                                 Tensor(), a.shape(), b.shape()));
  return attach(output, std::make_shared<autograd::ReluNode>(edges_to({&sum}), output.detach()));
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(OpKind::Sub, cpu::BinaryOp::Sub, a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(OpKind::Mul, cpu::BinaryOp::Mul, a, b);
}

namespace autograd {

std::shared_ptr<ReluNode> ReluNode::keeping_input(std::vector<Edge> inputs, Tensor input) {
  auto node = std::make_shared<ReluNode>(std::move(inputs), Tensor());
  node->input_ = std::move(input);
  return node;
}

const Tensor& ReluNode::output() const {
  if (!output_.defined() && input_.defined()) {
    NoGradGuard values_only;
    output_ = relu(input_);
  }
  return output_;
}

TensorList ReluNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  const Tensor& passed = this->passed();
  return {produce(
      "relu backward", grad_output, grad_output.shape(),
      [&]<typename T>(T* out) {
        cpu::relu_backward(grad_output.numel(), grad_output.data<T>(), passed.data<T>(), out);
      },
      [&]<typename T>(T* out) {
        cuda::relu_backward(grad_output.numel(), grad_output.device_data<T>(),
                            passed.device_data<T>(), out);
      })};
}

TensorList UnaryNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  const cpu::UnaryOp op = kind() == OpKind::Abs      ? cpu::UnaryOp::Abs
                          : kind() == OpKind::Square ? cpu::UnaryOp::Square
                                                     : cpu::UnaryOp::Gelu;
  return {produce(
      name().data(), grad_output, grad_output.shape(),
      [&]<typename T>(T* out) {
        cpu::unary_backward(op, grad_output.numel(), grad_output.data<T>(), input_.data<T>(), out);
      },
      [&]<typename T>(T* out) {
        cuda::unary_backward(op, grad_output.numel(), grad_output.device_data<T>(),
                             input_.device_data<T>(), out);
      })};
}

TensorList ScaleShiftNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  return {mul_scalar(grad_output, scale_)};
}

TensorList BinaryNode::default_backward(const Tensor& grad_output, const InputMask& needs) const {
  TensorList grads(2);
  switch (kind()) {
    case OpKind::Add:
      if (needs[0]) grads[0] = sum_to_shape(grad_output, a_shape_);
      if (needs[1]) grads[1] = sum_to_shape(grad_output, b_shape_);
      break;
    case OpKind::Sub:
      if (needs[0]) grads[0] = sum_to_shape(grad_output, a_shape_);
      if (needs[1]) grads[1] = sum_to_shape(mul_scalar(grad_output, -1.0), b_shape_);
      break;
    default:  // Mul
      if (needs[0]) grads[0] = sum_to_shape(mul(grad_output, b_), a_shape_);
      if (needs[1]) grads[1] = sum_to_shape(mul(grad_output, a_), b_shape_);
      break;
  }
  return grads;
}

}  // namespace autograd
}  // namespace saliency
