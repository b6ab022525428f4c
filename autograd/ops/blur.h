#pragma once
// Gaussian blur of NCHW input with a separable kernel, as torchvision's gaussian_blur: weights
// exp(-x^2 / (2 sigma^2)) at x = -r..r, normalized to sum 1, reflect padding. Used for the
// "blur" baseline of Integrated Gradients and for smoothing maps.
#include "autograd/node.h"
#include "kernels/cpu/blur.h"

namespace saliency {

// kernel_size odd; its radius must be smaller than the height and the width.
Tensor gaussian_blur(const Tensor& input, int64_t kernel_size, double sigma);

namespace autograd {

class BlurNode final : public Node {
 public:
  BlurNode(std::vector<Edge> inputs, Tensor weights, kernels::cpu::BlurGeometry geometry,
           Shape input_shape)
      : Node(OpKind::GaussianBlur, std::move(inputs)),
        weights_(std::move(weights)),
        geometry_(geometry),
        input_shape_(std::move(input_shape)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Tensor weights_;
  kernels::cpu::BlurGeometry geometry_;
  Shape input_shape_;
};

}  // namespace autograd
}  // namespace saliency
