#include "autograd/grad_mode.h"

namespace saliency::autograd {
namespace {
thread_local bool grad_mode_enabled = true;
thread_local bool save_for_rules = false;
}  // namespace

SaveForRulesGuard::SaveForRulesGuard() : previous_(save_for_rules) {
  save_for_rules = true;
}
SaveForRulesGuard::~SaveForRulesGuard() {
  save_for_rules = previous_;
}
bool SaveForRulesGuard::active() {
  return save_for_rules;
}

bool GradMode::enabled() {
  return grad_mode_enabled;
}
void GradMode::set_enabled(bool enabled) {
  grad_mode_enabled = enabled;
}

}  // namespace saliency::autograd
