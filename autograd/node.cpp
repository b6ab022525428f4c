#include "autograd/node.h"

#include <atomic>

#include "autograd/trace.h"

#include "autograd/grad_mode.h"
#include "autograd/ops/accumulate_grad.h"
#include "core/error.h"

namespace saliency::autograd {
namespace {

std::atomic<uint64_t> next_serial{0};

}  // namespace

Node::Node(OpKind kind, std::vector<Edge> inputs)
    : kind_(kind),
      serial_(next_serial.fetch_add(1, std::memory_order_relaxed)),
      inputs_(std::move(inputs)) {}

std::string_view op_name(OpKind kind) {
  switch (kind) {
    case OpKind::AccumulateGrad:
      return "accumulate_grad";
    case OpKind::Tap:
      return "tap";
    case OpKind::Conv2d:
      return "conv2d";
    case OpKind::BatchNorm2d:
      return "batch_norm2d";
    case OpKind::Linear:
      return "linear";
    case OpKind::Relu:
      return "relu";
    case OpKind::Abs:
      return "abs";
    case OpKind::Square:
      return "square";
    case OpKind::ScaleShift:
      return "scale_shift";
    case OpKind::Add:
      return "add";
    case OpKind::Sub:
      return "sub";
    case OpKind::Mul:
      return "mul";
    case OpKind::MaxPool2d:
      return "max_pool2d";
    case OpKind::AvgPool2d:
      return "avg_pool2d";
    case OpKind::AdaptiveAvgPool2d:
      return "adaptive_avg_pool2d";
    case OpKind::Sum:
      return "sum";
    case OpKind::Reshape:
      return "reshape";
    case OpKind::ConcatBatch:
      return "concat_batch";
    case OpKind::Select:
      return "select";
    case OpKind::Softmax:
      return "softmax";
    case OpKind::LogSoftmax:
      return "log_softmax";
    case OpKind::ResizeBilinear:
      return "resize_bilinear";
    case OpKind::ResizeNearest:
      return "resize_nearest";
    case OpKind::GaussianBlur:
      return "gaussian_blur";
    case OpKind::CrossEntropy:
      return "cross_entropy";
    case OpKind::Gelu:
      return "gelu";
    case OpKind::LayerNorm:
      return "layer_norm";
    case OpKind::MatMul:
      return "matmul";
    case OpKind::Permute:
      return "permute";
    case OpKind::Concat:
      return "concat";
    case OpKind::Narrow:
      return "narrow";
    case OpKind::ToDevice:
      return "to_device";
  }
  return "unknown";
}

void Node::release_saved() {
  clear_saved();
  released_ = true;
}

void Node::check_not_released() const {
  if (released_)
    throw Error(concat("backward through ", name(),
                       " a second time: its saved tensors were freed "
                       "after the first backward pass (pass retain_graph to keep them)"));
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* input : inputs)
    if (input != nullptr && input->defined() && input->requires_grad()) return true;
  return false;
}

Edge edge_to(const Tensor& input) {
  if (!input.defined()) return {};
  AutogradMeta& meta = input.autograd_meta();
  if (meta.grad_fn) return {meta.grad_fn};
  if (!meta.requires_grad) return {};
  if (!meta.grad_accumulator)
    meta.grad_accumulator = std::make_shared<AccumulateGradNode>(input.impl_ptr());
  return {meta.grad_accumulator};
}

std::vector<Edge> edges_to(std::initializer_list<const Tensor*> inputs) {
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor* input : inputs) edges.push_back(input ? edge_to(*input) : Edge{});
  return edges;
}

int64_t bytes_of(std::initializer_list<const Tensor*> tensors) {
  int64_t total = 0;
  for (const Tensor* t : tensors)
    if (t->defined()) total += int64_t(t->nbytes());
  return total;
}

Tensor attach(Tensor output, std::shared_ptr<Node> node) {
  if (TraceScope::active()) TraceScope::on_record(*node, output);
  output.autograd_meta().grad_fn = std::move(node);
  return output;
}

}  // namespace saliency::autograd
