#pragma once
// Fully connected layer: input [N, in], weight [out, in], optional bias [out] -> [N, out].
#include "autograd/node.h"
#include "kernels/cpu/linear.h"

namespace saliency {

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});

namespace autograd {

class LinearNode final : public Node {
 public:
  LinearNode(std::vector<Edge> inputs, Tensor input, Tensor weight,
             kernels::cpu::LinearGeometry geometry)
      : Node(OpKind::Linear, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& input() const { return input_; }
  const Tensor& weight() const { return weight_; }

 private:
  void clear_saved() override { input_ = weight_ = Tensor(); }
  Tensor input_, weight_;
  kernels::cpu::LinearGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
