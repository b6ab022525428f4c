#include "autograd/ops/loss.h"

#include "core/error.h"
#include "kernels/cpu/loss.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/softmax.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

Tensor cross_entropy(const Tensor& logits, const std::vector<int64_t>& targets,
                     double label_smoothing) {
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

  Tensor log_probabilities = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  Tensor probabilities = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
  Tensor loss = Tensor::empty(Shape(), logits.dtype(), logits.device());
  const cpu::SoftmaxGeometry g{rows, classes, 1};
  dispatch_dtype(logits.dtype(), [&]<typename T>() {
    if (logits.device().is_cuda()) {
      const cuda::DeviceArray<int64_t> device_targets(targets);
      cuda::softmax_forward(g, /*log=*/true, logits.device_data<T>(),
                            log_probabilities.device_data<T>());
      cuda::cross_entropy_forward(rows, classes, log_probabilities.device_data<T>(),
                                  device_targets.data(), label_smoothing,
                                  probabilities.device_data<T>(), loss.device_data<T>());
    } else {
      cpu::softmax_forward(g, /*log=*/true, logits.data<T>(), log_probabilities.data<T>());
      loss.data<T>()[0] =
          cpu::cross_entropy_forward(rows, classes, log_probabilities.data<T>(), targets.data(),
                                     label_smoothing, probabilities.data<T>());
    }
  });
  if (!autograd::should_record({&logits})) return loss;
  return autograd::attach(
      loss, std::make_shared<autograd::CrossEntropyNode>(autograd::edges_to({&logits}),
                                                         probabilities, targets, label_smoothing));
}

namespace autograd {

TensorList CrossEntropyNode::default_backward(const Tensor& grad_output, const InputMask&) const {
  Tensor grad =
      Tensor::empty(probabilities_.shape(), probabilities_.dtype(), probabilities_.device());
  const int64_t rows = probabilities_.size(0), classes = probabilities_.size(1);
  dispatch_dtype(grad.dtype(), [&]<typename T>() {
    if (grad.device().is_cuda()) {
      const cuda::DeviceArray<int64_t> device_targets(targets_);
      cuda::cross_entropy_backward(rows, classes, probabilities_.device_data<T>(),
                                   device_targets.data(), label_smoothing_,
                                   grad_output.device_data<T>(), grad.device_data<T>());
    } else {
      cpu::cross_entropy_backward(rows, classes, probabilities_.data<T>(), targets_.data(),
                                  label_smoothing_, grad_output.data<T>()[0], grad.data<T>());
    }
  });
  return {grad};
}

}  // namespace autograd
}  // namespace saliency
