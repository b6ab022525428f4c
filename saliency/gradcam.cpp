// Grad-CAM (Selvaraju et al. 2017) at a tapped layer A: alpha_k = spatial mean of d y_c / d A_k,
// map = relu(sum_k alpha_k A_k) at the layer's resolution. The backward pass stops at the tap:
// nothing below the layer is differentiated. Guided Grad-CAM multiplies guided backprop by the
// map upsampled bilinearly (align_corners = false) to the input size.
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/method_steps.h"

namespace saliency::methods {

Tensor upsample_map(const Tensor& map, int64_t height, int64_t width, const std::string& mode) {
  if (mode == "bilinear") return resize_bilinear(map, height, width);
  SALIENCY_CHECK(mode == "nearest", "unknown upsampling '", mode, "' (known: bilinear, nearest)");
  return resize_nearest(map, height, width);
}

Tensor gradcam(const Classifier& model, const Tensor& input, int64_t target,
               const MethodOptions& options) {
  const std::string& layer = options.layer;
  autograd::TapScope taps({layer});
  const Tensor logits = model(input.detach());
  const autograd::Tap& tapped = taps[layer];
  SALIENCY_CHECK(tapped.tensor().defined(), "gradcam: the model has no tap point named '", layer,
                 "' (ResNet: maxpool, layer1..layer4, layer3.5, ...)");
  SALIENCY_CHECK(tapped.value().rank() == 4, "gradcam: layer '", layer, "' gives ",
                 tapped.value().shape(), ", not a feature map [1, K, h, w]");
  SALIENCY_CHECK(target >= 0 && target < logits.size(1), "target class ", target,
                 " is out of range for a model with ", logits.size(1), " classes");
  Tensor seed = zeros(logits.shape(), logits.dtype());
  seed.set({0, target}, 1.0);
  // The map's arithmetic is a few thousand values: on the host, wherever the model ran.
  const Tensor activation_gradient =
      autograd::grad(logits, {tapped.tensor()}, seed)[0].to(Device::cpu());
  const Tensor activation = tapped.value().to(Device::cpu());
  autograd::NoGradGuard no_graph;
  const Tensor alpha = mean(activation_gradient, {2, 3}, true);  // [1, K, 1, 1]
  const Tensor map = sum(mul(alpha, activation), {1}, true);     // [1, 1, h, w]
  return options.gradcam_relu ? relu(map) : map;
}

Tensor guided_gradcam(const Classifier& model, const Tensor& input, int64_t target,
                      const MethodOptions& options) {
  const Tensor guided = plain_gradient(model, input, target, Method::GuidedBackprop);
  const Tensor map = gradcam(model, input, target, options);
  autograd::NoGradGuard no_graph;
  return mul(guided, upsample_map(map, input.size(2), input.size(3), options.upsampling));
}

}  // namespace saliency::methods
