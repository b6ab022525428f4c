#pragma once
// Bilinear resize of NCHW input to [N, C, out_h, out_w], align_corners = false (Grad-CAM
// upsampling, resizing images and maps). Differentiable in both directions.
#include "autograd/node.h"
#include "kernels/cpu/resize.h"

namespace saliency {

Tensor resize_bilinear(const Tensor& input, int64_t out_h, int64_t out_w);

namespace autograd {

class ResizeNode final : public Node {
 public:
  ResizeNode(std::vector<Edge> inputs, Shape input_shape, kernels::cpu::ResizeGeometry geometry)
      : Node(OpKind::ResizeBilinear, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape input_shape_;
  kernels::cpu::ResizeGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
