#pragma once
// The sink at a leaf that requires grad: adds the incoming gradient into leaf.grad().
#include "autograd/node.h"

namespace saliency::autograd {

class AccumulateGradNode final : public Node {
 public:
  // Holds the leaf weakly: the leaf owns this node, not the other way round.
  explicit AccumulateGradNode(const std::shared_ptr<TensorImpl>& leaf)
      : Node(OpKind::AccumulateGrad, {}), leaf_(leaf) {}

  TensorList default_backward(const Tensor&, const InputMask&) const override { return {}; }
  void accumulate(const Tensor& grad) const;
  bool leaf_alive() const { return !leaf_.expired(); }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

}  // namespace saliency::autograd
