#pragma once
// Cross-entropy with label smoothing over rows of log-probabilities (log_softmax of the logits):
// loss = -mean over rows of ((1 - s) log p[target] + s mean_k log p[k]). The specification of
// kernels/cuda/loss.h's kernels.
#include <cstdint>

namespace saliency::kernels::cpu {

// Writes probabilities = exp(log_probabilities) and returns the loss (summed in double, rows
// in order). targets are class indices, already checked to lie in [0, classes).
template <typename T>
T cross_entropy_forward(int64_t rows, int64_t classes, const T* log_probabilities,
                        const int64_t* targets, double label_smoothing, T* probabilities);

// d loss / d logits = grad_loss / rows * (p - (1 - s) one_hot(target) - s / classes).
template <typename T>
void cross_entropy_backward(int64_t rows, int64_t classes, const T* probabilities,
                            const int64_t* targets, double label_smoothing, T grad_loss,
                            T* grad_logits);

}  // namespace saliency::kernels::cpu
