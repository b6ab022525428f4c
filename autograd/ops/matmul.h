#pragma once
// Batched matrix product: a [..., M, K] times b [..., K, N] -> [..., M, N], the leading
// dimensions equal (no broadcasting): attention's Q K^T and A V.
#include "autograd/node.h"

namespace saliency {

Tensor matmul(const Tensor& a, const Tensor& b);

namespace autograd {

// Saves both operands: dA = dC B^T, dB = A^T dC.
class MatMulNode final : public Node {
 public:
  MatMulNode(std::vector<Edge> inputs, Tensor a, Tensor b)
      : Node(OpKind::MatMul, std::move(inputs)), a_(std::move(a)), b_(std::move(b)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  int64_t saved_bytes() const override { return bytes_of({&a_, &b_}); }

 private:
  void clear_saved() override { a_ = b_ = Tensor(); }
  Tensor a_, b_;
};

}  // namespace autograd
}  // namespace saliency
