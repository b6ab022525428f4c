#pragma once
// Fully connected layer: input [N, in], weight [out, in], optional bias [out] -> [N, out].
#include "autograd/node.h"
#include "kernels/cpu/linear.h"

namespace saliency {

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = {});
// grad_output [N, out] times weight [out, in]: the input gradient with any weight of the
// layer's shape (relevance rules use modified weights). Records no graph.
Tensor linear_input_gradient(const Tensor& grad_output, const Tensor& weight);

namespace autograd {

class LinearNode final : public Node {
 public:
  LinearNode(std::vector<Edge> inputs, Tensor input, Tensor weight, Tensor bias,
             kernels::cpu::LinearGeometry geometry)
      : Node(OpKind::Linear, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& input() const { return input_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined when the layer has none
  int64_t saved_bytes() const override { return bytes_of({&input_}); }

 private:
  void clear_saved() override { input_ = weight_ = bias_ = Tensor(); }
  Tensor input_, weight_, bias_;
  kernels::cpu::LinearGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
