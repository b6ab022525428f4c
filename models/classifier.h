#pragma once
// What the tools need from an image classifier beside its forward pass: where Grad-CAM looks
// by default, the order of the model randomization test, how to put it in LRP's canonical form,
// and the tap points of its attention maps. ResNet and VisionTransformer implement it, so
// predict / explain / eval / demo work with either.
#include <string>
#include <vector>

#include "nn/module.h"

namespace saliency::models {

class ImageClassifier : public nn::Module {
 public:
  // image [N, 3, H, W] (normalized) -> logits [N, classes].
  virtual Tensor forward(const Tensor& image) const = 0;
  virtual std::string architecture() const = 0;  // "resnet", "vit"
  // The tap point Grad-CAM uses when none is named: a feature map [N, K, h, w].
  virtual std::string default_cam_layer() const = 0;
  // Module prefixes from the logits down, for cascading randomization (saliency/sanity.h).
  virtual std::vector<std::string> randomization_cascade() const = 0;
  // LRP's canonical form (ResNet: BatchNorm folded); throws when the model has no LRP rules.
  virtual void canonize_for_lrp() = 0;
  // Rewrites for inference that keep the function up to float rounding: BatchNorm folded into
  // the convolution before it (ResNet, VGG-BN), which saves its pass over every activation
  // forward and backward. Not for training. Idempotent; a no-op for models without BatchNorm.
  virtual void fold_for_inference() {}
  // Tap points of the attention probabilities [N, heads, T, T], first layer first; empty for
  // models without attention.
  virtual std::vector<std::string> attention_taps() const { return {}; }
  // Models whose first layer is affine in the image (ResNet's stem convolution, its BatchNorm
  // folded or in evaluation mode) can run in two parts: forward(x) equals
  // forward_from_input_layer(input_layer(x)) up to float rounding. Integrated Gradients and
  // SmoothGrad use the cut (saliency::Classifier::Split) to take that layer's backward once for
  // all their inputs. The parts throw for models without such a layer.
  virtual bool has_affine_input_layer() const { return false; }
  virtual Tensor input_layer(const Tensor& image) const;
  virtual Tensor forward_from_input_layer(const Tensor& first) const;
};

}  // namespace saliency::models
