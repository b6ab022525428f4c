#pragma once
// Reductions: sum and mean over all elements or chosen axes, softmax and log-softmax.
#include "autograd/node.h"
#include "kernels/cpu/softmax.h"

namespace saliency {

Tensor sum(const Tensor& input);  // all elements -> shape []
Tensor sum(const Tensor& input, std::vector<int64_t> axes, bool keepdim = false);
Tensor mean(const Tensor& input);
Tensor mean(const Tensor& input, std::vector<int64_t> axes, bool keepdim = false);
Tensor softmax(const Tensor& input, int64_t dim);
Tensor log_softmax(const Tensor& input, int64_t dim);

namespace autograd {

// sum (scale 1) and mean (scale 1 / count) over axes.
class SumNode final : public Node {
 public:
  SumNode(std::vector<Edge> inputs, Shape input_shape, Shape kept_shape, double scale)
      : Node(OpKind::Sum, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        kept_shape_(std::move(kept_shape)),
        scale_(scale) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;

 private:
  Shape input_shape_, kept_shape_;  // kept: reduced axes have extent 1
  double scale_;
};

class SoftmaxNode final : public Node {
 public:
  SoftmaxNode(OpKind kind, std::vector<Edge> inputs, Tensor output,
              kernels::cpu::SoftmaxGeometry geometry)
      : Node(kind, std::move(inputs)), output_(std::move(output)), geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  int64_t saved_bytes() const override { return bytes_of({&output_}); }

 private:
  void clear_saved() override { output_ = Tensor(); }
  Tensor output_;
  kernels::cpu::SoftmaxGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
