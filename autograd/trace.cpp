#include "autograd/trace.h"

#include <cmath>

namespace saliency::autograd {
namespace {

thread_local TraceScope* active_scope = nullptr;

template <typename T>
double squares_of(const T* values, int64_t count) {
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += double(values[i]) * double(values[i]);
  return sum;
}

// The sum of squares, read in place on the CPU: a copy (to_vector, 8 bytes an element) of every
// gradient had faulted in fresh pages for each node, 1.1 million for IG at 16 steps, slowing
// the ops timed after it.
double norm_of(const Tensor& t) {
  if (!t.defined()) return 0;
  if (t.device().is_cpu() && t.dtype() == DType::Float32)
    return squares_of(t.data<float>(), t.numel());
  if (t.device().is_cpu() && t.dtype() == DType::Float64)
    return squares_of(t.data<double>(), t.numel());
  return squares_of(t.to_vector().data(), t.numel());
}

}  // namespace

TraceScope::TraceScope() : last_(std::chrono::steady_clock::now()), outer_(active_scope) {
  active_scope = this;
}

TraceScope::~TraceScope() {
  active_scope = outer_;
}

bool TraceScope::active() {
  return active_scope != nullptr;
}

void TraceScope::on_record(const Node& node, const Tensor& output) {
  TraceScope* scope = active_scope;
  if (!scope) return;
  const auto now = std::chrono::steady_clock::now();
  TraceRecord record;
  record.id = int64_t(scope->records_.size());
  record.op = std::string(node.name());
  record.output_shape = output.shape();
  for (const Edge& edge : node.inputs()) {
    if (!edge.valid()) continue;
    const auto it = scope->ids_.find(edge.node->serial());
    record.inputs.push_back(it == scope->ids_.end() ? -1 : it->second);
  }
  record.flops = scope->flops_.flops() - scope->flops_seen_;
  scope->flops_seen_ = scope->flops_.flops();
  record.forward_ms = std::chrono::duration<double, std::milli>(now - scope->last_).count();
  record.saved_bytes = node.saved_bytes();
  scope->ids_[node.serial()] = record.id;
  scope->records_.push_back(std::move(record));
  scope->last_ = std::chrono::steady_clock::now();  // the trace's own work is not the next op's
}

void TraceScope::on_backward(const Node& node, const Tensor& grad_output, const TensorList& grads,
                             const std::string& rule, double milliseconds) {
  TraceScope* scope = active_scope;
  if (!scope) return;
  const auto it = scope->ids_.find(node.serial());
  if (it == scope->ids_.end()) return;  // recorded before the scope began
  TraceRecord& record = scope->records_[size_t(it->second)];
  record.backward_ran = true;
  record.rule = rule;
  record.backward_ms += milliseconds;
  record.grad_output_norm = std::sqrt(norm_of(grad_output));
  double sum = 0;
  for (const Tensor& g : grads) sum += norm_of(g);
  record.grad_input_norm = std::sqrt(sum);
  // The backward's own FLOPs and time are not the next forward record's (a trace may hold
  // several graphs, each recorded after the previous one's backward).
  scope->flops_seen_ = scope->flops_.flops();
  scope->last_ = std::chrono::steady_clock::now();
}

}  // namespace saliency::autograd
