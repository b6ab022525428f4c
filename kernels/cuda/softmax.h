#pragma once
// Softmax and log-softmax on the GPU: kernels/cpu/softmax.h's forward and backward (the
// specification), one thread per line [outer, inner], the line's sums in the CPU's order.
#include "kernels/cpu/softmax.h"

namespace saliency::kernels::cuda {

template <typename T>
void softmax_forward(const cpu::SoftmaxGeometry& g, bool log, const T* input, T* output);
template <typename T>
void softmax_backward(const cpu::SoftmaxGeometry& g, bool log, const T* grad_output,
                      const T* output, T* grad_input);

}  // namespace saliency::kernels::cuda
