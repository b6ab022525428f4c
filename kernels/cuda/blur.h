#pragma once
// The separable blur on the GPU, the counterpart of kernels/cpu/blur.h (its specification): the
// same two 1-D passes, one thread per line running kernels/blur_line.h. weights is a device
// pointer.
#include "kernels/cpu/blur.h"

namespace saliency::kernels::cuda {

template <typename T>
void separable_blur_forward(const cpu::BlurGeometry& g, const T* weights, const T* input,
                            T* output);
template <typename T>
void separable_blur_backward(const cpu::BlurGeometry& g, const T* weights, const T* grad_output,
                             T* grad_input);

}  // namespace saliency::kernels::cuda
