#pragma once
// Element-by-element ops: relu, abs, square, scalar affine maps, and add / sub / mul with NumPy
// broadcasting (a bias [1, C, 1, 1] onto [N, C, H, W], a residual onto its block).
#include "autograd/node.h"
#include "kernels/cpu/elementwise.h"

namespace saliency {

Tensor relu(const Tensor& input);
Tensor abs(const Tensor& input);
Tensor square(const Tensor& input);
Tensor gelu(const Tensor& input);  // x * Phi(x), exact (erf), as torch.nn.GELU()
Tensor scale_shift(const Tensor& input, double scale, double shift);  // scale * x + shift
Tensor mul_scalar(const Tensor& input, double scale);
Tensor add_scalar(const Tensor& input, double shift);
Tensor add(const Tensor& a, const Tensor& b);
// relu(add(a, b)), the end of a residual block. For CPU operands of one shape it runs as one
// pass, recording (when it records) the add and ReLU nodes of the plain ops; where relevance
// rules want every op's values (SaveForRulesGuard), on CUDA and for broadcast operands it is
// relu(add(a, b)). The values are the same either way.
Tensor add_relu(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);

// Batched sums along a line, without autograd history (Integrated Gradients' path points and
// weighted sum): scaled_copies gives [n, ...] with row k = base + scales[k] * direction, from
// [1, ...] operands; add_weighted_rows gives accumulator + sum_k weights[k] * rows[k] for rows
// [n, ...], added in k order. Each product and sum is one fused multiply-add, the same bits on
// the CPU and a GPU, and adding a batch at once or in parts gives the same result.
Tensor scaled_copies(const Tensor& base, const Tensor& direction,
                     const std::vector<double>& scales);
Tensor add_weighted_rows(const Tensor& accumulator, const Tensor& rows,
                         const std::vector<double>& weights);

inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator*(const Tensor& a, double s) {
  return mul_scalar(a, s);
}
inline Tensor operator*(double s, const Tensor& a) {
  return mul_scalar(a, s);
}
inline Tensor operator+(const Tensor& a, double s) {
  return add_scalar(a, s);
}
inline Tensor operator-(const Tensor& a) {
  return mul_scalar(a, -1.0);
}

// ReLU backward rules other than the exact one, as functions of the saved output and the
// incoming gradient (see saliency/relu_rules.h): guided keeps grad where output > 0 and
// grad > 0; deconvnet is relu(grad).
Tensor relu_backward_guided(const Tensor& grad_output, const Tensor& relu_output);
Tensor relu_backward_deconvnet(const Tensor& grad_output);

// The shape two operands broadcast to; throws naming `op` and both shapes when they do not.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);
// Sums `grad` down to `shape` over the dimensions that broadcasting expanded.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);
// Repeats `tensor` along broadcast dimensions to `shape` (a copy; records no graph).
Tensor broadcast_to_shape(const Tensor& tensor, const Shape& shape);

namespace autograd {

// Saves only its output: relu'(x) depends on x > 0, which is output > 0. A ReLU whose output
// was never written (relu_max_pool2d: the pooling read max(0, x) itself) keeps its input
// instead, positive in the same places; output() then makes the output on first use, for
// rules that read its values.
class ReluNode final : public Node {
 public:
  ReluNode(std::vector<Edge> inputs, Tensor output)
      : Node(OpKind::Relu, std::move(inputs)), output_(std::move(output)) {}
  static std::shared_ptr<ReluNode> keeping_input(std::vector<Edge> inputs, Tensor input);
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& output() const;
  // Greater than zero exactly where the ReLU passes a gradient: the output, or the input kept.
  const Tensor& passed() const { return output_.defined() ? output_ : input_; }
  int64_t saved_bytes() const override { return bytes_of({&output_, &input_}); }

 private:
  void clear_saved() override { output_ = input_ = Tensor(); }
  mutable Tensor output_;
  Tensor input_;
};

class UnaryNode final : public Node {
 public:
  UnaryNode(OpKind kind, std::vector<Edge> inputs, Tensor input)
      : Node(kind, std::move(inputs)), input_(std::move(input)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& input() const { return input_; }
  int64_t saved_bytes() const override { return bytes_of({&input_}); }

 private:
  void clear_saved() override { input_ = Tensor(); }
  Tensor input_;
};

class ScaleShiftNode final : public Node {
 public:
  ScaleShiftNode(std::vector<Edge> inputs, double scale)
      : Node(OpKind::ScaleShift, std::move(inputs)), scale_(scale) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  double scale() const { return scale_; }

 private:
  double scale_;
};

// add, sub and mul. Saves the operands for mul, and for add and sub only under a
// SaveForRulesGuard (their exact backward needs just the shapes).
class BinaryNode final : public Node {
 public:
  BinaryNode(OpKind kind, std::vector<Edge> inputs, Tensor a, Tensor b, Shape a_shape,
             Shape b_shape)
      : Node(kind, std::move(inputs)),
        a_(std::move(a)),
        b_(std::move(b)),
        a_shape_(std::move(a_shape)),
        b_shape_(std::move(b_shape)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Tensor& a() const { return a_; }
  const Tensor& b() const { return b_; }
  const Shape& a_shape() const { return a_shape_; }
  const Shape& b_shape() const { return b_shape_; }
  int64_t saved_bytes() const override { return bytes_of({&a_, &b_}); }

 private:
  void clear_saved() override { a_ = b_ = Tensor(); }
  Tensor a_, b_;
  Shape a_shape_, b_shape_;
};

}  // namespace autograd
}  // namespace saliency
