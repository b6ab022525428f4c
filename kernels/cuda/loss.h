#pragma once
// Cross-entropy on the GPU, the counterpart of kernels/cpu/loss.h (device pointers, targets
// included). One thread per row forms the probabilities and the row's terms in the CPU's order;
// one thread adds the rows in order, so the loss differs from the CPU's only where the device's
// double exp does.
#include "kernels/cpu/loss.h"

namespace saliency::kernels::cuda {

// loss: one element on the device.
template <typename T>
void cross_entropy_forward(int64_t rows, int64_t classes, const T* log_probabilities,
                           const int64_t* targets, double label_smoothing, T* probabilities,
                           T* loss);

// grad_loss: the loss's gradient, one element on the device.
template <typename T>
void cross_entropy_backward(int64_t rows, int64_t classes, const T* probabilities,
                            const int64_t* targets, double label_smoothing, const T* grad_loss,
                            T* grad_logits);

}  // namespace saliency::kernels::cuda
