#include "autograd/ops/shape_ops.h"

#include <cstring>

#include "core/device_memory.h"
#include "core/error.h"
#include "core/factory.h"
#include "kernels/cpu/indexing.h"
#include "kernels/cuda/indexing.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

namespace {

// [outer, size, inner] around dimension `dim`.
struct Split {
  int64_t outer = 1, size = 1, inner = 1;
};
Split split_at(const Shape& shape, int64_t dim) {
  Split s{1, shape[dim], 1};
  for (int64_t d = 0; d < dim; ++d) s.outer *= shape[d];
  for (int64_t d = dim + 1; d < shape.rank(); ++d) s.inner *= shape[d];
  return s;
}

// For o < outer: output[o out_row + out_offset + i] = input[o in_row + in_offset + i], i < slab,
// on the device both tensors live on (select, concat and narrow, and their gradients).
void copy_slabs(int64_t outer, int64_t slab, int64_t in_row, int64_t in_offset, int64_t out_row,
                int64_t out_offset, const Tensor& input, const Tensor& output) {
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cuda())
      cuda::strided_copy({outer, slab}, {in_row, 1}, input.device_data<T>() + in_offset,
                         {out_row, 1}, output.device_data<T>() + out_offset);
    else
      cpu::copy_slabs(outer, slab, in_row, in_offset, out_row, out_offset, input.data<T>(),
                      output.data<T>());
  });
}

Tensor zeros_on(const Shape& shape, DType dtype, Device device) {
  if (device.is_cpu()) return zeros(shape, dtype);
  Tensor zero = Tensor::empty(shape, dtype, device);
  dispatch_dtype(dtype,
                 [&]<typename T>() { cuda::fill_zero(zero.numel(), zero.device_data<T>()); });
  return zero;
}

}  // namespace

Tensor reshape(const Tensor& input, std::vector<int64_t> shape) {
  int64_t known = 1, inferred = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      SALIENCY_CHECK(inferred < 0, "reshape: more than one -1 in the target shape");
      inferred = static_cast<int64_t>(d);
    } else {
      SALIENCY_CHECK(shape[d] >= 0, "reshape: negative extent ", shape[d]);
      known *= shape[d];
    }
  }
  if (inferred >= 0) {
    SALIENCY_CHECK(known > 0 && input.numel() % known == 0, "reshape: cannot infer -1 for ",
                   input.shape(), " with the other extents multiplying to ", known);
    shape[inferred] = input.numel() / known;
  }
  Tensor output = input.view(Shape(shape));
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::ReshapeNode>(autograd::edges_to({&input}), input.shape()));
}

Tensor flatten(const Tensor& input, int64_t start_dim) {
  const int64_t start = input.shape().normalize_dim(start_dim, "flatten");
  std::vector<int64_t> dims(input.shape().dims().begin(), input.shape().dims().begin() + start);
  int64_t rest = 1;
  for (int64_t d = start; d < input.rank(); ++d) rest *= input.size(d);
  dims.push_back(rest);
  return reshape(input, dims);
}

Tensor concat_batch(const std::vector<Tensor>& inputs) {
  SALIENCY_CHECK(!inputs.empty(), "concat_batch: no tensors to concatenate");
  const Tensor& first = inputs.front();
  SALIENCY_CHECK(first.rank() >= 1, "concat_batch: tensors need a batch dimension, got ",
                 first.shape());
  std::vector<int64_t> dims = first.shape().dims();
  std::vector<int64_t> batch_sizes;
  dims[0] = 0;
  for (const Tensor& t : inputs) {
    check_same_dtype_device("concat_batch", first, t);
    std::vector<int64_t> rest(t.shape().dims());
    SALIENCY_CHECK(t.rank() == first.rank() &&
                       std::equal(rest.begin() + 1, rest.end(), first.shape().dims().begin() + 1),
                   "concat_batch: shapes ", first.shape(), " and ", t.shape(),
                   " differ outside the batch dimension");
    batch_sizes.push_back(t.size(0));
    dims[0] += t.size(0);
  }
  Tensor output = Tensor::empty(Shape(dims), first.dtype(), first.device());
  auto* cursor = static_cast<char*>(output.raw_device_data());
  for (const Tensor& t : inputs) {
    if (first.device().is_cpu())
      std::memcpy(cursor, t.raw_data(), t.nbytes());
    else
      device_memory::copy_within_device(first.device(), cursor, t.raw_device_data(), t.nbytes());
    cursor += t.nbytes();
  }
  bool record = false;
  for (const Tensor& t : inputs) record = record || autograd::should_record({&t});
  if (!record) return output;
  std::vector<autograd::Edge> edges;
  for (const Tensor& t : inputs) edges.push_back(autograd::edge_to(t));
  return autograd::attach(output, std::make_shared<autograd::ConcatBatchNode>(
                                      std::move(edges), std::move(batch_sizes)));
}

Tensor select(const Tensor& input, int64_t dim, int64_t index) {
  const int64_t axis = input.shape().normalize_dim(dim, "select");
  SALIENCY_CHECK(index >= 0 && index < input.size(axis), "select: index ", index,
                 " out of range for dimension ", axis, " of ", input.shape());
  std::vector<int64_t> dims = input.shape().dims();
  dims.erase(dims.begin() + axis);
  const Split s = split_at(input.shape(), axis);
  Tensor output = Tensor::empty(Shape(dims), input.dtype(), input.device());
  copy_slabs(s.outer, s.inner, s.size * s.inner, index * s.inner, s.inner, 0, input, output);
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::SelectNode>(
                                      autograd::edges_to({&input}), input.shape(), axis, index));
}

Tensor concat(const std::vector<Tensor>& inputs, int64_t dim) {
  SALIENCY_CHECK(!inputs.empty(), "concat: no tensors to concatenate");
  const Tensor& first = inputs.front();
  const int64_t axis = first.shape().normalize_dim(dim, "concat");
  std::vector<int64_t> dims = first.shape().dims(), sizes;
  dims[size_t(axis)] = 0;
  for (const Tensor& t : inputs) {
    check_same_dtype_device("concat", first, t);
    bool same = t.rank() == first.rank();
    for (int64_t d = 0; same && d < t.rank(); ++d) same = d == axis || t.size(d) == first.size(d);
    SALIENCY_CHECK(same, "concat: shapes ", first.shape(), " and ", t.shape(),
                   " differ outside dimension ", axis);
    sizes.push_back(t.size(axis));
    dims[size_t(axis)] += t.size(axis);
  }
  const Shape out_shape(dims);
  const Split out = split_at(out_shape, axis);
  Tensor output = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t begin = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    copy_slabs(out.outer, sizes[i] * out.inner, sizes[i] * out.inner, 0, out.size * out.inner,
               begin * out.inner, inputs[i], output);
    begin += sizes[i];
  }
  std::vector<const Tensor*> pointers;
  for (const Tensor& t : inputs) pointers.push_back(&t);
  bool record = false;
  for (const Tensor* t : pointers) record = record || autograd::should_record({t});
  if (!record) return output;
  std::vector<autograd::Edge> edges;
  for (const Tensor& t : inputs) edges.push_back(autograd::edge_to(t));
  return autograd::attach(output, std::make_shared<autograd::ConcatNode>(
                                      std::move(edges), out_shape, axis, std::move(sizes)));
}

Tensor narrow(const Tensor& input, int64_t dim, int64_t begin, int64_t length) {
  const int64_t axis = input.shape().normalize_dim(dim, "narrow");
  SALIENCY_CHECK(begin >= 0 && length >= 0 && begin + length <= input.size(axis), "narrow: [",
                 begin, ", ", begin + length, ") outside dimension ", axis, " of ", input.shape());
  const Split in = split_at(input.shape(), axis);
  std::vector<int64_t> dims = input.shape().dims();
  dims[size_t(axis)] = length;
  Tensor output = Tensor::empty(Shape(dims), input.dtype(), input.device());
  copy_slabs(in.outer, length * in.inner, in.size * in.inner, begin * in.inner, length * in.inner,
             0, input, output);
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::NarrowNode>(
                                      autograd::edges_to({&input}), input.shape(), axis, begin));
}

Tensor permute(const Tensor& input, const std::vector<int64_t>& order) {
  SALIENCY_CHECK(int64_t(order.size()) == input.rank(), "permute: ", order.size(),
                 " dimensions given for a tensor of rank ", input.rank());
  std::vector<bool> seen(order.size(), false);
  std::vector<int64_t> dims;
  for (int64_t d : order) {
    SALIENCY_CHECK(d >= 0 && d < input.rank() && !seen[size_t(d)], "permute: order is not a ",
                   "permutation of 0..", input.rank() - 1);
    seen[size_t(d)] = true;
    dims.push_back(input.size(d));
  }
  Tensor output = Tensor::empty(Shape(dims), input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    if (input.device().is_cpu()) {
      cpu::permute_copy(input.shape().dims(), order, input.data<T>(), output.data<T>());
      return;
    }
    // Output dimension d walks input dimension order[d] with that dimension's stride.
    std::vector<int64_t> input_strides(order.size(), 1), read(order.size()), write(order.size(), 1);
    for (size_t d = order.size(); d-- > 1;)
      input_strides[d - 1] = input_strides[d] * input.size(int64_t(d));
    for (size_t d = order.size(); d-- > 0;) {
      read[d] = input_strides[size_t(order[d])];
      if (d + 1 < order.size()) write[d] = write[d + 1] * dims[d + 1];
    }
    cuda::strided_copy(dims, read, input.device_data<T>(), write, output.device_data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::PermuteNode>(autograd::edges_to({&input}), order));
}

Tensor to_device(const Tensor& input, Device device) {
  if (input.device() == device) return input;
  Tensor output = input.to(device);
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::ToDeviceNode>(
                                      autograd::edges_to({&input}), input.device()));
}

namespace autograd {

TensorList ConcatNode::default_backward(const Tensor& grad_output, const InputMask& needs) const {
  const Split out = split_at(output_shape_, dim_);
  TensorList grads(sizes_.size());
  int64_t begin = 0;
  for (size_t i = 0; i < sizes_.size(); ++i) {
    if (needs[i]) {
      std::vector<int64_t> dims = output_shape_.dims();
      dims[size_t(dim_)] = sizes_[i];
      grads[i] = Tensor::empty(Shape(dims), grad_output.dtype(), grad_output.device());
      copy_slabs(out.outer, sizes_[i] * out.inner, out.size * out.inner, begin * out.inner,
                 sizes_[i] * out.inner, 0, grad_output, grads[i]);
    }
    begin += sizes_[i];
  }
  return grads;
}

TensorList NarrowNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  const Split in = split_at(input_shape_, dim_);
  const int64_t length = grad_output.size(dim_);
  Tensor grad_input = zeros_on(input_shape_, grad_output.dtype(), grad_output.device());
  copy_slabs(in.outer, length * in.inner, length * in.inner, 0, in.size * in.inner,
             begin_ * in.inner, grad_output, grad_input);
  return {grad_input};
}

TensorList PermuteNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  std::vector<int64_t> inverse(order_.size());
  for (size_t d = 0; d < order_.size(); ++d) inverse[size_t(order_[d])] = int64_t(d);
  return {permute(grad_output, inverse)};
}

TensorList ToDeviceNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  return {grad_output.to(source_)};
}

TensorList ReshapeNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  return {grad_output.view(input_shape_)};
}

TensorList ConcatBatchNode::default_backward(const Tensor& grad_output,
                                             const InputMask& needs) const {
  TensorList grads(batch_sizes_.size());
  int64_t begin = 0;
  for (size_t i = 0; i < batch_sizes_.size(); ++i) {
    if (needs[i]) grads[i] = grad_output.slice_batch(begin, begin + batch_sizes_[i]);
    begin += batch_sizes_[i];
  }
  return grads;
}

TensorList SelectNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  const Split s = split_at(input_shape_, dim_);
  Tensor grad_input = zeros_on(input_shape_, grad_output.dtype(), grad_output.device());
  copy_slabs(s.outer, s.inner, s.inner, 0, s.size * s.inner, index_ * s.inner, grad_output,
             grad_input);
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
