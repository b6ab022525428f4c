#pragma once
// Ops that move elements without arithmetic: reshape / flatten (views), concatenation (along
// the batch dimension, or any), select (one index of one dimension, e.g. one logit per image)
// and permute (reordered dimensions, copied).
#include "autograd/node.h"

namespace saliency {

// One dimension may be -1 and is inferred. The result shares the input's storage.
Tensor reshape(const Tensor& input, std::vector<int64_t> shape);
// Collapses dimensions start_dim..end into one: [N, C, H, W] -> [N, C*H*W] by default.
Tensor flatten(const Tensor& input, int64_t start_dim = 1);
Tensor concat_batch(const std::vector<Tensor>& inputs);
// Drops dimension `dim`, keeping entry `index` of it: select(logits [N, K], 1, c) -> [N].
Tensor select(const Tensor& input, int64_t dim, int64_t index);
// Entries [begin, begin + length) of dimension `dim` (torch.narrow), copied.
Tensor narrow(const Tensor& input, int64_t dim, int64_t begin, int64_t length);
// Joins tensors along `dim`; the other extents must agree (torch.cat).
Tensor concat(const std::vector<Tensor>& inputs, int64_t dim);
// Output dimension d is input dimension order[d] (torch.permute); a contiguous copy.
Tensor permute(const Tensor& input, const std::vector<int64_t>& order);
// A copy on `device` (the input itself when it is there already) whose gradient is copied back
// to the input's device, as torch's Tensor.to(device): a model on the GPU differentiates to an
// input on the CPU.
Tensor to_device(const Tensor& input, Device device);

namespace autograd {

class ToDeviceNode final : public Node {
 public:
  ToDeviceNode(std::vector<Edge> inputs, Device source)
      : Node(OpKind::ToDevice, std::move(inputs)), source_(source) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Device source_;
};

class ReshapeNode final : public Node {
 public:
  ReshapeNode(std::vector<Edge> inputs, Shape input_shape)
      : Node(OpKind::Reshape, std::move(inputs)), input_shape_(std::move(input_shape)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape input_shape_;
};

class ConcatBatchNode final : public Node {
 public:
  ConcatBatchNode(std::vector<Edge> inputs, std::vector<int64_t> batch_sizes)
      : Node(OpKind::ConcatBatch, std::move(inputs)), batch_sizes_(std::move(batch_sizes)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  std::vector<int64_t> batch_sizes_;
};

class SelectNode final : public Node {
 public:
  SelectNode(std::vector<Edge> inputs, Shape input_shape, int64_t dim, int64_t index)
      : Node(OpKind::Select, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        dim_(dim),
        index_(index) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  int64_t dim() const { return dim_; }
  int64_t index() const { return index_; }

 private:
  Shape input_shape_;
  int64_t dim_, index_;
};

class ConcatNode final : public Node {
 public:
  ConcatNode(std::vector<Edge> inputs, Shape output_shape, int64_t dim, std::vector<int64_t> sizes)
      : Node(OpKind::Concat, std::move(inputs)),
        output_shape_(std::move(output_shape)),
        dim_(dim),
        sizes_(std::move(sizes)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape output_shape_;
  int64_t dim_;
  std::vector<int64_t> sizes_;  // each input's extent along dim_
};

class NarrowNode final : public Node {
 public:
  NarrowNode(std::vector<Edge> inputs, Shape input_shape, int64_t dim, int64_t begin)
      : Node(OpKind::Narrow, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        dim_(dim),
        begin_(begin) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape input_shape_;
  int64_t dim_, begin_;
};

class PermuteNode final : public Node {
 public:
  PermuteNode(std::vector<Edge> inputs, std::vector<int64_t> order)
      : Node(OpKind::Permute, std::move(inputs)), order_(std::move(order)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  std::vector<int64_t> order_;
};

}  // namespace autograd
}  // namespace saliency
