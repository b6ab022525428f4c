#pragma once
// Resizing NCHW input to [N, C, out_h, out_w]: bilinear with align_corners = false (Grad-CAM
// upsampling, resizing images and maps) or nearest. Differentiable, up or down.
#include "autograd/node.h"
#include "kernels/cpu/resize.h"

namespace saliency {

Tensor resize_bilinear(const Tensor& input, int64_t out_h, int64_t out_w);
// F.interpolate(mode="nearest"): output (y, x) copies input (floor(y h / H), floor(x w / W)).
Tensor resize_nearest(const Tensor& input, int64_t out_h, int64_t out_w);

namespace autograd {

// Bilinear or nearest, by kind.
class ResizeNode final : public Node {
 public:
  ResizeNode(OpKind kind, std::vector<Edge> inputs, Shape input_shape,
             kernels::cpu::ResizeGeometry geometry)
      : Node(kind, std::move(inputs)), input_shape_(std::move(input_shape)), geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape input_shape_;
  kernels::cpu::ResizeGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
