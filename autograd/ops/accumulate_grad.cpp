#include "autograd/ops/accumulate_grad.h"

#include "autograd/ops/elementwise.h"

namespace saliency::autograd {

void AccumulateGradNode::accumulate(const Tensor& grad) const {
  std::shared_ptr<TensorImpl> leaf = leaf_.lock();
  if (!leaf) return;
  Tensor leaf_tensor(leaf);
  const Tensor existing = leaf_tensor.grad();
  // A fresh tensor either way: `grad` may alias the seed or another gradient.
  leaf_tensor.set_grad(existing.defined() ? add(existing, grad) : grad.clone());
}

}  // namespace saliency::autograd
