#include "autograd/tap.h"

#include "autograd/grad_mode.h"
#include "core/error.h"

namespace saliency::autograd {
namespace {
thread_local TapScope* innermost_scope = nullptr;
}

Tensor tap(const Tensor& input, const std::shared_ptr<Tap>& record) {
  SALIENCY_CHECK(record != nullptr, "tap: no record to write into");
  record->value_ = input.detach();
  record->grad_ = record->tensor_ = Tensor();
  if (!GradMode::enabled()) return input;
  // The record keeps the graph tensor; its node only observes the record weakly, so no cycle.
  record->tensor_ = attach(input.detach(), std::make_shared<TapNode>(edges_to({&input}), record));
  return record->tensor_;
}

void TapNode::observe_gradient(const Tensor& grad) {
  if (std::shared_ptr<Tap> record = record_.lock()) record->grad_ = grad;
}

TapScope::TapScope(const std::vector<std::string>& names) : outer_(innermost_scope) {
  for (const std::string& name : names) taps_.push_back(std::make_shared<Tap>(name));
  innermost_scope = this;
}

TapScope::~TapScope() {
  innermost_scope = outer_;
}

std::shared_ptr<Tap> TapScope::find(std::string_view name) const {
  for (const auto& record : taps_)
    if (record->name() == name) return record;
  return nullptr;
}

const Tap& TapScope::operator[](std::string_view name) const {
  std::shared_ptr<Tap> record = find(name);
  SALIENCY_CHECK(record != nullptr, "tap '", name, "' was not requested by this scope");
  return *record;
}

bool tap_requested(std::string_view name) {
  for (TapScope* scope = innermost_scope; scope != nullptr; scope = scope->outer_)
    if (scope->find(name)) return true;
  return false;
}

Tensor tap_point(std::string_view name, const Tensor& input) {
  for (TapScope* scope = innermost_scope; scope != nullptr; scope = scope->outer_) {
    if (std::shared_ptr<Tap> record = scope->find(name)) return tap(input, record);
  }
  return input;
}

}  // namespace saliency::autograd
