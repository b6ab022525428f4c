#pragma once
// Classification loss for training: cross-entropy of logits against class indices, fused with
// its softmax so the backward is the well-conditioned (softmax - target) / N.
#include <vector>

#include "autograd/node.h"

namespace saliency {

// mean_n [ -sum_k q_nk log softmax(logits_n)_k ], logits [N, K], targets N class indices, with
// q = one-hot(target) * (1 - label_smoothing) + label_smoothing / K (PyTorch's definition).
// Returns a scalar (shape []).
Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets,
                     double label_smoothing = 0.0);

namespace autograd {

class CrossEntropyNode final : public Node {
 public:
  CrossEntropyNode(std::vector<Edge> inputs, Tensor probabilities, std::vector<int64_t> targets,
                   double label_smoothing)
      : Node(OpKind::CrossEntropy, std::move(inputs)),
        probabilities_(std::move(probabilities)),
        targets_(std::move(targets)),
        label_smoothing_(label_smoothing) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  void clear_saved() override { probabilities_ = Tensor(); }
  Tensor probabilities_;  // softmax(logits), [N, K]
  std::vector<int64_t> targets_;
  double label_smoothing_;
};

}  // namespace autograd
}  // namespace saliency
