#include "autograd/rules.h"

#include "core/error.h"

namespace saliency::autograd {
namespace {
thread_local RuleScope* innermost_scope = nullptr;
}

RuleSet& RuleSet::set(OpKind kind, BackwardRule rule) {
  SALIENCY_CHECK(static_cast<bool>(rule), "rule set '", name_, "': empty rule for ", op_name(kind));
  rules_[kind] = std::move(rule);
  return *this;
}

const BackwardRule* RuleSet::find(OpKind kind) const {
  auto it = rules_.find(kind);
  return it == rules_.end() ? nullptr : &it->second;
}

RuleScope::RuleScope(const RuleSet& rules) : rules_(rules), outer_(innermost_scope) {
  innermost_scope = this;
}

RuleScope::~RuleScope() {
  innermost_scope = outer_;
}

const BackwardRule* active_rule(OpKind kind) {
  for (RuleScope* scope = innermost_scope; scope != nullptr; scope = scope->outer_)
    if (const BackwardRule* rule = scope->rules_.find(kind)) return rule;
  return nullptr;
}

std::string active_rule_name(OpKind kind) {
  for (RuleScope* scope = innermost_scope; scope != nullptr; scope = scope->outer_)
    if (scope->rules_.find(kind)) return scope->rules_.name();
  return "default";
}

}  // namespace saliency::autograd
