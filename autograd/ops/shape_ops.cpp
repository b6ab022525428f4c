#include "autograd/ops/shape_ops.h"

#include <cstring>

#include "core/error.h"
#include "kernels/cpu/indexing.h"

namespace saliency {

namespace cpu = kernels::cpu;

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
    check_cpu("concat_batch", t);
    check_same_dtype_device("concat_batch", first, t);
    std::vector<int64_t> rest(t.shape().dims());
    SALIENCY_CHECK(t.rank() == first.rank() &&
                       std::equal(rest.begin() + 1, rest.end(), first.shape().dims().begin() + 1),
                   "concat_batch: shapes ", first.shape(), " and ", t.shape(),
                   " differ outside the batch dimension");
    batch_sizes.push_back(t.size(0));
    dims[0] += t.size(0);
  }
  Tensor output = Tensor::empty(Shape(dims), first.dtype());
  auto* cursor = static_cast<char*>(output.raw_data());
  for (const Tensor& t : inputs) {
    std::memcpy(cursor, t.raw_data(), t.nbytes());
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
  check_cpu("select", input);
  const int64_t axis = input.shape().normalize_dim(dim, "select");
  SALIENCY_CHECK(index >= 0 && index < input.size(axis), "select: index ", index,
                 " out of range for dimension ", axis, " of ", input.shape());
  std::vector<int64_t> dims = input.shape().dims();
  dims.erase(dims.begin() + axis);
  const Split s = split_at(input.shape(), axis);
  Tensor output = Tensor::empty(Shape(dims), input.dtype());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    cpu::select_forward(s.outer, s.size, s.inner, index, input.data<T>(), output.data<T>());
  });
  if (!autograd::should_record({&input})) return output;
  return autograd::attach(output, std::make_shared<autograd::SelectNode>(
                                      autograd::edges_to({&input}), input.shape(), axis, index));
}

namespace autograd {

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
  Tensor grad_input = Tensor::empty(input_shape_, grad_output.dtype());
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    cpu::select_backward(s.outer, s.size, s.inner, index_, grad_output.data<T>(),
                         grad_input.data<T>());
  });
  return {grad_input};
}

}  // namespace autograd
}  // namespace saliency
