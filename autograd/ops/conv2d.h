#pragma once
// 2-D convolution: input [N, C, H, W], weight [O, C / groups, kh, kw], optional bias [O].
#include "autograd/node.h"
#include "kernels/cpu/conv2d.h"

namespace saliency {

// A pair of per-axis values (height, width); one number means both.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2(int64_t both = 1) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
};

struct Conv2dOptions {
  Size2 stride{1};
  Size2 padding{0};
  Size2 dilation{1};
  int64_t groups = 1;
};

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dOptions& options = {});

namespace autograd {

// Saves input and weight (shared storage, not copies): the input gradient needs the weight,
// the weight gradient needs the input, and LRP rules need both.
class Conv2dNode final : public Node {
 public:
  Conv2dNode(std::vector<Edge> inputs, Tensor input, Tensor weight,
             kernels::cpu::Conv2dGeometry geometry)
      : Node(OpKind::Conv2d, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& input() const { return input_; }
  const Tensor& weight() const { return weight_; }
  const kernels::cpu::Conv2dGeometry& geometry() const { return geometry_; }

 private:
  void clear_saved() override { input_ = weight_ = Tensor(); }
  Tensor input_, weight_;
  kernels::cpu::Conv2dGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
