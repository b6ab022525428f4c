#pragma once
// Recording what the engine does, op by op, for `saliency trace`: while a TraceScope is alive on
// a thread, every graph node the forward pass records and every node the backward pass runs is
// written down: the op, its output shape, the nodes feeding it, FLOPs, time, bytes kept for
// backward, the backward rule that ran (default, guided-backprop, lrp-...) and the norms of the
// gradient arriving at it and leaving it. Without a scope the cost is one thread-local pointer
// test in attach() and in the engine's node loop.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/flop_counter.h"
#include "autograd/node.h"

namespace saliency::autograd {

struct TraceRecord {
  int64_t id = 0;  // order of recording in the forward pass
  std::string op;  // "conv2d", "relu", ...
  Shape output_shape;
  std::vector<int64_t> inputs;  // ids of the recorded nodes feeding this one; -1: a leaf
  double flops = 0;             // GEMM-shaped work of the forward (see FlopCounter)
  double forward_ms = 0;        // time since the previous record (the op and its bookkeeping)
  int64_t saved_bytes = 0;      // activations kept for backward
  bool backward_ran = false;
  std::string rule;  // "default" or the rule set's name
  double backward_ms = 0;
  double grad_output_norm = 0;  // L2 norm of the gradient arriving at the node
  double grad_input_norm = 0;   // L2 norm of the gradients it passes on (all inputs)
};

class TraceScope {
 public:
  TraceScope();
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

  const std::vector<TraceRecord>& records() const { return records_; }

  // Called by attach() and the engine; no-ops without an active scope.
  static void on_record(const Node& node, const Tensor& output);
  static void on_backward(const Node& node, const Tensor& grad_output, const TensorList& grads,
                          const std::string& rule, double milliseconds);
  static bool active();

 private:
  std::vector<TraceRecord> records_;
  // Record ids by Node::serial (not by address: a later graph's node may reuse a released
  // one's, as IG's first-layer backward did after its path points' graph).
  std::unordered_map<uint64_t, int64_t> ids_;
  FlopCounter flops_;
  double flops_seen_ = 0;
  std::chrono::steady_clock::time_point last_;
  TraceScope* outer_;
};

}  // namespace saliency::autograd
