#pragma once
// Layer normalization over the last dimension (torch.nn.functional.layer_norm with
// normalized_shape = the last dimension): input [..., F], weight and bias [F] (optional).
#include "autograd/node.h"
#include "kernels/cpu/layer_norm.h"

namespace saliency {

Tensor layer_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

namespace autograd {

// Saves the input, the weight, and per-row mean and rstd.
class LayerNormNode final : public Node {
 public:
  LayerNormNode(std::vector<Edge> inputs, Tensor input, Tensor weight, Tensor mean, Tensor rstd,
                kernels::cpu::LayerNormGeometry geometry)
      : Node(OpKind::LayerNorm, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        mean_(std::move(mean)),
        rstd_(std::move(rstd)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  int64_t saved_bytes() const override { return bytes_of({&input_, &mean_, &rstd_}); }

 private:
  void clear_saved() override { input_ = weight_ = mean_ = rstd_ = Tensor(); }
  Tensor input_, weight_, mean_, rstd_;
  kernels::cpu::LayerNormGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
