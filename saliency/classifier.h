#pragma once
// What the methods explain: a function from a batch of normalized images [N, 3, H, W] to logits
// [N, classes] made of this engine's ops (calling autograd::tap_point at named layers, as
// models::ResNet does). Any callable converts to one. A classifier may also carry the same
// function cut after a first layer that is affine in the image (Split): the methods that sum
// gradients over many inputs (Integrated Gradients, SmoothGrad) then sum them at that layer's
// output and take the layer's backward once, not once per input (saliency::classifier_on
// attaches it for the models that have such a layer).
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/tensor.h"

namespace saliency {

// The function, and where there is one, its cut after the first layer.
class Classifier {
 public:
  using Function = std::function<Tensor(const Tensor&)>;

  // rest(first(x)) is the classifier's function up to float rounding, and first is affine:
  // first(x) = A x + b for one linear map A (a convolution; BatchNorm folded or in evaluation
  // mode, never with batch statistics). So first(x' + a (x - x')) = first(x') + a (first(x) -
  // first(x')), and the input gradients' sum is A^T applied to the sum of the gradients at
  // first's output: one backward of the layer for any number of inputs.
  struct Split {
    Function first, rest;
  };

  Classifier() = default;
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, Classifier> &&
           std::is_invocable_r_v<Tensor, F&, const Tensor&>) Classifier(F forward)
      : forward_(std::move(forward)) {}  // NOLINT: implicit, as std::function
  Classifier(Function forward, Split split)
      : forward_(std::move(forward)), split_(std::move(split)) {}

  Tensor operator()(const Tensor& images) const { return forward_(images); }
  // The cut after the first layer, or null when the classifier was made without one.
  const Split* split() const { return split_ ? &*split_ : nullptr; }

 private:
  Function forward_;
  std::optional<Split> split_;
};

}  // namespace saliency
