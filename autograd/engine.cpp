#include "autograd/engine.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "autograd/ops/accumulate_grad.h"
#include "autograd/ops/conv2d.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/pooling.h"
#include "autograd/rules.h"
#include "autograd/trace.h"
#include "core/error.h"
#include "core/factory.h"

namespace saliency::autograd {
namespace {

// Nodes reachable from root, each before every node it depends on (iterative DFS, so deep
// graphs cannot overflow the stack).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    Node* node = stack.back().first;
    const size_t next = stack.back().second++;
    if (next < node->inputs().size()) {
      Node* child = node->inputs()[next].node.get();
      if (child != nullptr && visited.insert(child).second) stack.push_back({child, 0});
    } else {
      post_order.push_back(node);
      stack.pop_back();
    }
  }
  std::reverse(post_order.begin(), post_order.end());
  return post_order;
}

// What a pass is for. In accumulate mode every live leaf is a target; in capture mode only the
// requested tensors are (taps always are).
struct Targets {
  bool accumulate_leaves = true;
  std::unordered_map<Node*, size_t> captures;  // node -> index into the result list

  bool contains(Node* node) const {
    if (node->observes_gradient() || captures.count(node)) return true;
    if (!accumulate_leaves || node->kind() != OpKind::AccumulateGrad) return false;
    return static_cast<AccumulateGradNode*>(node)->leaf_alive();
  }
};

// Nodes with a target at or below them; `order` lists parents before children.
std::unordered_set<Node*> needed_nodes(const std::vector<Node*>& order, const Targets& targets) {
  std::unordered_set<Node*> needed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* node = *it;
    bool is_needed = targets.contains(node);
    for (const Edge& edge : node->inputs())
      is_needed = is_needed || (edge.valid() && needed.count(edge.node.get()));
    if (is_needed) needed.insert(node);
  }
  return needed;
}

// How many needed nodes send a gradient to each node (the ReLU fusion below wants exactly one).
std::unordered_map<Node*, int> consumer_counts(const std::vector<Node*>& order,
                                               const std::unordered_set<Node*>& needed) {
  std::unordered_map<Node*, int> counts;
  for (Node* node : order) {
    if (!needed.count(node)) continue;
    for (const Edge& edge : node->inputs())
      if (edge.valid() && needed.count(edge.node.get())) ++counts[edge.node.get()];
  }
  return counts;
}

// The ReLU node whose backward `node` can apply as it stores its input gradient, or null: `node`
// is a convolution (or a max pooling) whose input is a ReLU's output whose other consumers in
// this pass have all sent their gradients already (none, inside a ResNet block; the next block's
// add, at a block's end; a pooling's ReLU must have no other consumer), both ops run their
// default backward on the CPU, and nobody asked to see the ReLU's gradient (a capture) or to
// time it (a trace).
ReluNode* fusable_relu(const Node& node, const InputMask& needs,
                       const std::unordered_map<Node*, int>& consumers,
                       const std::unordered_map<Node*, int>& arrivals, const Targets& targets) {
  const OpKind kind = node.kind();
  if ((kind != OpKind::Conv2d && kind != OpKind::MaxPool2d) || !needs[0] || TraceScope::active() ||
      active_rule(kind) != nullptr || active_rule(OpKind::Relu) != nullptr)
    return nullptr;
  Node* input = node.inputs()[0].node.get();
  if (input == nullptr || input->kind() != OpKind::Relu || input->observes_gradient() ||
      targets.captures.count(input) || input->saved_released())
    return nullptr;
  const auto count = consumers.find(input);
  const auto arrived = arrivals.find(input);
  const int others = arrived == arrivals.end() ? 0 : arrived->second;
  if (count == consumers.end() || count->second != others + 1) return nullptr;
  auto* relu = static_cast<ReluNode*>(input);
  if (!relu->passed().defined() || !relu->passed().device().is_cpu() || relu->inputs().empty() ||
      !relu->inputs()[0].valid())
    return nullptr;
  if (kind == OpKind::MaxPool2d) return others == 0 ? relu : nullptr;
  return static_cast<const Conv2dNode&>(node).weight().device().is_cpu() ? relu : nullptr;
}

Tensor resolve_seed(const Tensor& output, const Tensor& seed) {
  if (!seed.defined()) {
    SALIENCY_CHECK(output.numel() == 1, "backward: output ", output.shape(),
                   " has more than one element; pass a seed (the gradient of the output)");
    return ones(output.shape(), output.dtype());
  }
  SALIENCY_CHECK(seed.shape() == output.shape() && seed.dtype() == output.dtype(),
                 "backward: seed ", describe(seed), " does not match output ", describe(output));
  return seed;
}

TensorList run_node(Node& node, const Tensor& grad_output, const InputMask& needs) {
  node.check_not_released();
  const BackwardRule* rule = active_rule(node.kind());
  const bool tracing = TraceScope::active();
  const auto start =
      tracing ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  TensorList grads =
      rule ? (*rule)(node, grad_output, needs) : node.default_backward(grad_output, needs);
  if (tracing)
    TraceScope::on_backward(
        node, grad_output, grads, active_rule_name(node.kind()),
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  SALIENCY_ASSERT(grads.size() == node.inputs().size(), "backward of ", node.name(), " returned ",
                  grads.size(), " gradients for ", node.inputs().size(), " inputs");
  return grads;
}

BackwardReport run_backward(const Tensor& output, const Tensor& seed, const Targets& targets,
                            const BackwardOptions& options, TensorList* captured) {
  SALIENCY_CHECK(output.defined() && output.requires_grad(),
                 "backward: the output does not "
                 "require grad (no input of the recorded computation requires grad)");
  NoGradGuard no_grad;  // rules and default backwards compute without recording
  const Edge root = edge_to(output);
  const std::vector<Node*> order = topological_order(root.node.get());
  const std::unordered_set<Node*> needed = needed_nodes(order, targets);
  const std::unordered_map<Node*, int> consumers = consumer_counts(order, needed);

  BackwardReport report;
  std::unordered_map<Node*, Tensor> pending{{root.node.get(), resolve_seed(output, seed)}};
  std::unordered_set<const Node*> fused;    // ReLUs whose backward ran inside their consumer's
  std::unordered_map<Node*, int> arrivals;  // gradients received so far, per node
  for (Node* node : order) {
    if (fused.count(node)) continue;
    auto slot = pending.find(node);
    if (!needed.count(node) || slot == pending.end()) {
      ++report.nodes_pruned;
      continue;
    }
    const Tensor grad_output = std::move(slot->second);
    pending.erase(slot);
    ++report.nodes_run;
    if (auto capture = targets.captures.find(node); capture != targets.captures.end())
      (*captured)[capture->second] = grad_output;
    if (node->observes_gradient()) node->observe_gradient(grad_output);
    if (node->kind() == OpKind::AccumulateGrad) {
      // Leaf sinks are shared by every graph that uses the leaf: never released.
      if (targets.accumulate_leaves)
        static_cast<AccumulateGradNode*>(node)->accumulate(grad_output);
      continue;
    }
    InputMask needs(node->inputs().size());
    for (size_t i = 0; i < needs.size(); ++i) {
      const Edge& edge = node->inputs()[i];
      needs[i] = edge.valid() && needed.count(edge.node.get());
    }
    if (std::find(needs.begin(), needs.end(), true) != needs.end()) {
      ReluNode* relu = fusable_relu(*node, needs, consumers, arrivals, targets);
      TensorList grads;
      if (relu) {
        node->check_not_released();
        // What the ReLU's other consumers sent is added in the conv's store: other + new, the
        // same sum as the accumulation below (float addition commutes).
        Tensor others;
        if (auto sent = pending.find(relu); sent != pending.end()) {
          others = std::move(sent->second);
          pending.erase(sent);
        }
        if (node->kind() == OpKind::MaxPool2d)
          grads = {static_cast<const MaxPoolNode*>(node)->backward_through_relu(grad_output,
                                                                                relu->passed())};
        else
          grads = static_cast<const Conv2dNode*>(node)->backward_through_relu(
              grad_output, needs, relu->passed(), others);
        fused.insert(relu);
        ++report.nodes_run;  // the ReLU's backward ran, inside its consumer's
        ++report.relus_fused;
        if (!options.retain_graph) relu->release_saved();
      } else {
        grads = run_node(*node, grad_output, needs);
      }
      for (size_t i = 0; i < needs.size(); ++i) {
        if (!needs[i] || !grads[i].defined()) continue;
        // The fused ReLU's gradient goes straight on to the ReLU's own input.
        Node* receiver =
            i == 0 && relu ? relu->inputs()[0].node.get() : node->inputs()[i].node.get();
        auto [entry, inserted] = pending.try_emplace(receiver, grads[i]);
        ++arrivals[receiver];
        // Out of place: a gradient may alias another (add passes its input to both operands).
        if (!inserted) entry->second = add(entry->second, grads[i]);
      }
    }
    if (!options.retain_graph) node->release_saved();
  }
  return report;
}

}  // namespace

BackwardReport backward(const Tensor& output, const Tensor& seed, const BackwardOptions& options) {
  return run_backward(output, seed, Targets{}, options, nullptr);
}

TensorList grad(const Tensor& output, const TensorList& inputs, const Tensor& seed,
                const BackwardOptions& options) {
  Targets targets{.accumulate_leaves = false, .captures = {}};
  for (size_t i = 0; i < inputs.size(); ++i) {
    SALIENCY_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i,
                   " does not require grad");
    const Edge edge = edge_to(inputs[i]);
    SALIENCY_CHECK(!targets.captures.count(edge.node.get()), "grad: input ", i, " is listed twice");
    targets.captures[edge.node.get()] = i;
  }
  TensorList captured(inputs.size());
  run_backward(output, seed, targets, options, &captured);
  return captured;
}

}  // namespace saliency::autograd
