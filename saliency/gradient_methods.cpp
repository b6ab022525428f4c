// One backward pass from the target logit, under the method's rule set, then a reduction:
//   vanilla          |g|                  (Captum Saliency, abs=True)
//   grad-x-input     x * g                (Captum InputXGradient)
//   guided-backprop  g with guided ReLUs  (Captum GuidedBackprop)
//   deconvnet        g with deconvnet ReLUs (Captum Deconvolution)
#include "autograd/ops.h"
#include "saliency/method_steps.h"
#include "saliency/relu_rules.h"

namespace saliency::methods {

Tensor plain_gradient(const Classifier& model, const Tensor& input, int64_t target, Method method) {
  if (method == Method::GuidedBackprop) {
    const autograd::RuleSet rules = guided_backprop_rules();
    return input_gradients(model, input, {target}, &rules);
  }
  if (method == Method::Deconvnet) {
    const autograd::RuleSet rules = deconvnet_rules();
    return input_gradients(model, input, {target}, &rules);
  }
  const Tensor gradient = input_gradients(model, input, {target});
  return method == Method::Vanilla ? abs(gradient) : mul(input, gradient);
}

}  // namespace saliency::methods
