// LRP as a method: the composite's rule set, a forward pass that keeps what the Norm rule
// needs, and one backward pass seeded with the target logit, so the input relevance sums to
// about the logit (exactly, for epsilon rules without biases).
#include "autograd/grad_mode.h"
#include "core/error.h"
#include "saliency/image.h"
#include "saliency/method_steps.h"

namespace saliency {

LrpComposite LrpOptions::composite() const {
  if (custom) return *custom;
  if (preset == "epsilon-plus-flat") return LrpComposite::epsilon_plus_flat(epsilon, stabilizer);
  SALIENCY_CHECK(preset == "epsilon-gamma-box", "unknown LRP preset '", preset,
                 "' (known: epsilon-plus-flat, epsilon-gamma-box)");
  std::vector<double> lower = low, upper = high;
  if (lower.empty() && upper.empty()) {
    const Normalization imagenet;
    normalized_input_bounds({imagenet.mean.begin(), imagenet.mean.end()},
                            {imagenet.std.begin(), imagenet.std.end()}, lower, upper);
  }
  return LrpComposite::epsilon_gamma_box(lower, upper, epsilon, gamma, stabilizer);
}

namespace methods {

Tensor lrp(const Classifier& model, const Tensor& input, int64_t target,
           const LrpOptions& options) {
  const autograd::RuleSet rules = lrp_rules(options.composite());
  autograd::SaveForRulesGuard keep_inputs;
  return input_gradients(model, input, {target}, &rules, nullptr, Seed::Logit);
}

}  // namespace methods
}  // namespace saliency
