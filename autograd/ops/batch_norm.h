#pragma once
// Batch normalization of NCHW input per channel. Inference normalizes with the running
// statistics; training normalizes with the batch's own and updates the running ones in place
// (running_var with the unbiased batch variance, as PyTorch).
#include "autograd/node.h"
#include "kernels/cpu/batch_norm.h"

namespace saliency {

struct BatchNormOptions {
  bool training = false;
  double momentum = 0.1;
  double eps = 1e-5;
};

// weight and bias may be undefined (affine = false). running_mean / running_var are [C].
Tensor batch_norm2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var,
                    const BatchNormOptions& options = {});

namespace autograd {

class BatchNormNode final : public Node {
 public:
  BatchNormNode(std::vector<Edge> inputs, Tensor input, Tensor weight, Tensor mean, Tensor inv_std,
                bool batch_statistics, kernels::cpu::BatchNormGeometry geometry)
      : Node(OpKind::BatchNorm2d, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        mean_(std::move(mean)),
        inv_std_(std::move(inv_std)),
        batch_statistics_(batch_statistics),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& input() const { return input_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& mean() const { return mean_; }        // [C] used for normalization
  const Tensor& inv_std() const { return inv_std_; }  // [C] 1 / sqrt(var + eps)
  int64_t saved_bytes() const override { return bytes_of({&input_, &mean_, &inv_std_}); }
  bool batch_statistics() const { return batch_statistics_; }

 private:
  void clear_saved() override { input_ = weight_ = mean_ = inv_std_ = Tensor(); }
  Tensor input_, weight_, mean_, inv_std_;
  bool batch_statistics_;
  kernels::cpu::BatchNormGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
