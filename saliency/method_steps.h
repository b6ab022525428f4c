#pragma once
// The per-method recipes behind saliency::explain (saliency/methods.h), one file each.
#include "saliency/methods.h"

namespace saliency::methods {

// vanilla, grad-x-input, guided-backprop, deconvnet: one gradient, then a reduction.
Tensor plain_gradient(const Classifier& model, const Tensor& input, int64_t target, Method method);
// smoothgrad, smoothgrad-sq, vargrad: gradients at noisy copies, then mean / mean of squares /
// variance.
Tensor smoothgrad(const Classifier& model, const Tensor& input, int64_t target, Method method,
                  const MethodOptions& options);
Tensor integrated_gradients(const Classifier& model, const Tensor& input, int64_t target,
                            const MethodOptions& options, double* delta);
Tensor gradcam(const Classifier& model, const Tensor& input, int64_t target,
               const MethodOptions& options);
Tensor guided_gradcam(const Classifier& model, const Tensor& input, int64_t target,
                      const MethodOptions& options);
// One backward pass of relevance under the composite's LRP rules; the model's BatchNorm must
// be folded.
Tensor lrp(const Classifier& model, const Tensor& input, int64_t target, const LrpOptions& options);
// Attention rollout of the model's tapped attention maps (class-agnostic).
Tensor rollout(const Classifier& model, const Tensor& input, const RolloutOptions& options);
// Upsamples a [1, 1, h, w] map to height x width, bilinear or nearest.
Tensor upsample_map(const Tensor& map, int64_t height, int64_t width, const std::string& mode);

}  // namespace saliency::methods
