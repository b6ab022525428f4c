#pragma once
// A node of the recorded graph: one op application. It keeps what its backward needs (saved
// inputs, the output, attributes) and one edge per input to the node that produced that input.
// Every node has exactly one output, so "the gradient of a node" means the gradient of its
// output.
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace saliency::autograd {

// The op kinds backward rules are keyed by.
enum class OpKind {
  AccumulateGrad,  // a leaf's gradient sink
  Tap,             // identity that observes a gradient
  Conv2d,
  BatchNorm2d,
  Linear,
  Relu,
  Abs,
  Square,
  ScaleShift,
  Add,
  Sub,
  Mul,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Sum,
  Reshape,
  ConcatBatch,
  Select,
  Softmax,
  LogSoftmax,
  ResizeBilinear,
  ResizeNearest,
  GaussianBlur,
  CrossEntropy,
  Gelu,
  LayerNorm,
  MatMul,
  Permute,
  Concat,
  Narrow,
  ToDevice,
};
std::string_view op_name(OpKind kind);

class Node;

// Where an input's gradient goes: the node that produced the input, or null when the input
// does not require grad.
struct Edge {
  std::shared_ptr<Node> node;
  bool valid() const { return node != nullptr; }
};

// needs[i]: the backward pass wants the gradient of input i.
using InputMask = std::vector<bool>;
using TensorList = std::vector<Tensor>;

class Node {
 public:
  Node(OpKind kind, std::vector<Edge> inputs);
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  OpKind kind() const { return kind_; }
  std::string_view name() const { return op_name(kind_); }
  // Unique for the process's lifetime (a released node's address may be reused, its serial
  // not): how a TraceScope tells the nodes of successive graphs apart.
  uint64_t serial() const { return serial_; }
  const std::vector<Edge>& inputs() const { return inputs_; }

  // The exact gradient of each input for the given output gradient. Entries whose mask is
  // false may be left undefined (and should be: that is the work saved).
  virtual TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const = 0;

  // Nodes that observe the gradient flowing through them (taps) are targets of the pass.
  virtual bool observes_gradient() const { return false; }
  virtual void observe_gradient(const Tensor&) {}

  // Bytes of activations this node keeps for its backward (parameters and tensors shared with
  // the model are not counted): what `saliency trace` reports per op.
  virtual int64_t saved_bytes() const { return 0; }

  // Frees saved tensors after a backward pass that does not retain the graph.
  void release_saved();
  bool saved_released() const { return released_; }
  // Throws naming the op when a second backward reaches a released node.
  void check_not_released() const;

 protected:
  virtual void clear_saved() {}

 private:
  OpKind kind_;
  uint64_t serial_;
  std::vector<Edge> inputs_;
  bool released_ = false;
};

// The bytes of the defined tensors among `tensors` (for saved_bytes overrides).
int64_t bytes_of(std::initializer_list<const Tensor*> tensors);

// Typed access for backward rules: rule code downcasts to the node of its op kind.
template <typename NodeType>
const NodeType& node_as(const Node& node) {
  return dynamic_cast<const NodeType&>(node);
}

// --- used by op wrappers to record themselves ---

// True when grad mode is on and any of the tensors requires grad.
bool should_record(std::initializer_list<const Tensor*> inputs);
// The edge for one input (its grad_fn, its leaf accumulator, or none).
Edge edge_to(const Tensor& input);
std::vector<Edge> edges_to(std::initializer_list<const Tensor*> inputs);
// Makes `node` the grad_fn of `output` and returns output.
Tensor attach(Tensor output, std::shared_ptr<Node> node);

}  // namespace saliency::autograd
