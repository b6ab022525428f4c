#include "autograd/grad_mode.h"

#include "kernels/cpu/conv2d.h"

namespace saliency::autograd {
namespace {
thread_local bool grad_mode_enabled = true;
thread_local bool save_for_rules = false;
}  // namespace

SaveForRulesGuard::SaveForRulesGuard()
    : previous_(save_for_rules), previous_exact_(kernels::cpu::exact_convolutions_required()) {
  save_for_rules = true;
  kernels::cpu::set_exact_convolutions_required(true);
}
SaveForRulesGuard::~SaveForRulesGuard() {
  save_for_rules = previous_;
  kernels::cpu::set_exact_convolutions_required(previous_exact_);
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
