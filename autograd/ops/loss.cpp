#include "autograd/ops/loss.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cpu/softmax.h"

namespace saliency {

namespace cpu = kernels::cpu;

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets,
                     double label_smoothing) {
  check_cpu("cross_entropy", logits);
  SALIENCY_CHECK(logits.rank() == 2 && logits.size(0) > 0 && logits.size(1) > 0,
                 "cross_entropy: expected logits [N, K] with N, K > 0, got ", logits.shape());
  const int64_t rows = logits.size(0), classes = logits.size(1);
  SALIENCY_CHECK(static_cast<int64_t>(targets.size()) == rows, "cross_entropy: ", targets.size(),
                 " targets for ", rows, " rows of logits");
  for (int64_t target : targets)
    SALIENCY_CHECK(target >= 0 && target < classes, "cross_entropy: target ", target,
                   " is not a class index in [0, ", classes, ")");
  SALIENCY_CHECK(label_smoothing >= 0 && label_smoothing <= 1,
                 "cross_entropy: label_smoothing must be in [0, 1], got ", label_smoothing);

  const Tensor& input = logits;
  Tensor log_probabilities = Tensor::empty(input.shape(), input.dtype());
  Tensor probabilities = Tensor::empty(input.shape(), input.dtype());
  Tensor loss = Tensor::empty(Shape(), input.dtype());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    const cpu::SoftmaxGeometry g{rows, classes, 1};
    cpu::softmax_forward(g, /*log=*/true, input.data<T>(), log_probabilities.data<T>());
    const T* log_p = log_probabilities.data<T>();
    T* p = probabilities.data<T>();
    double total = 0;
    for (int64_t n = 0; n < rows; ++n) {
      double row_sum = 0;
      for (int64_t k = 0; k < classes; ++k) {
        p[n * classes + k] = T(std::exp(double(log_p[n * classes + k])));
        row_sum += double(log_p[n * classes + k]);
      }
      const double target_term = double(log_p[n * classes + targets[n]]);
      total -= (1 - label_smoothing) * target_term + label_smoothing * row_sum / double(classes);
    }
    loss.data<T>()[0] = T(total / double(rows));
  });
  if (!autograd::should_record({&logits})) return loss;
  return autograd::attach(
      loss, std::make_shared<autograd::CrossEntropyNode>(autograd::edges_to({&logits}),
                                                         probabilities, targets, label_smoothing));
}

namespace autograd {

TensorList CrossEntropyNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor grad = Tensor::empty(probabilities_.shape(), probabilities_.dtype());
  const int64_t rows = probabilities_.size(0), classes = probabilities_.size(1);
  dispatch_dtype(grad.dtype(), [&]<typename T>() {
    const double scale = double(grad_output.data<T>()[0]) / double(rows);
    const double uniform = label_smoothing_ / double(classes);
    const T* p = probabilities_.data<T>();
    T* g = grad.data<T>();
    for (int64_t n = 0; n < rows; ++n)
      for (int64_t k = 0; k < classes; ++k) {
        const double target = (k == targets_[n] ? 1 - label_smoothing_ : 0.0) + uniform;
        g[n * classes + k] = T(scale * (double(p[n * classes + k]) - target));
      }
  });
  return {grad};
}

}  // namespace autograd
}  // namespace saliency
