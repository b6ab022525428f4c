#include "autograd/grad_mode.h"

namespace saliency::autograd {
namespace {
thread_local bool grad_mode_enabled = true;
}

bool GradMode::enabled() {
  return grad_mode_enabled;
}
void GradMode::set_enabled(bool enabled) {
  grad_mode_enabled = enabled;
}

}  // namespace saliency::autograd
