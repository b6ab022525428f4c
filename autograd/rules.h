#pragma once
// Replaceable backward rules: the mechanism saliency methods are built on. The backward of an
// op kind is looked up, at backward time, in the active rule sets; a RuleScope installs a set
// for its lifetime on the current thread. Kinds a set does not mention keep the rule of the
// enclosing scope, and finally the op's exact default backward.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/node.h"

namespace saliency::autograd {

// Gets the node (downcast with node_as<ReluNode> etc. to reach saved tensors), the gradient
// of its output, and which inputs need a gradient; returns one tensor per input.
using BackwardRule =
    std::function<TensorList(const Node& node, const Tensor& grad_output, const InputMask& needs)>;

class RuleSet {
 public:
  explicit RuleSet(std::string name) : name_(std::move(name)) {}
  RuleSet& set(OpKind kind, BackwardRule rule);
  const BackwardRule* find(OpKind kind) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::map<OpKind, BackwardRule> rules_;
};

// Installs a copy of `rules` until the scope ends. Scopes nest; the innermost wins.
class RuleScope {
 public:
  explicit RuleScope(const RuleSet& rules);
  ~RuleScope();
  RuleScope(const RuleScope&) = delete;
  RuleScope& operator=(const RuleScope&) = delete;

 private:
  RuleSet rules_;
  RuleScope* outer_;
  friend const BackwardRule* active_rule(OpKind kind);
  friend std::string active_rule_name(OpKind kind);
};

// The rule the engine will use for `kind` now; null means the default backward.
const BackwardRule* active_rule(OpKind kind);
// "default" or the name of the set that supplies the rule (for tracing and tests).
std::string active_rule_name(OpKind kind);

}  // namespace saliency::autograd
