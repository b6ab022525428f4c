#pragma once
// Softmax and log-softmax along one dimension. The tensor is seen as [outer, size, inner] with
// the normalized dimension in the middle.
#include <cstdint>

namespace saliency::kernels::cpu {

struct SoftmaxGeometry {
  int64_t outer = 1, size = 1, inner = 1;
};

template <typename T>
void softmax_forward(const SoftmaxGeometry& g, bool log, const T* input, T* output);
// softmax:     grad_input = y * (grad_output - sum(grad_output * y))
// log_softmax: grad_input = grad_output - exp(y) * sum(grad_output)
template <typename T>
void softmax_backward(const SoftmaxGeometry& g, bool log, const T* grad_output, const T* output,
                      T* grad_input);

}  // namespace saliency::kernels::cpu
