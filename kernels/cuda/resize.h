#pragma once
// Resizing image planes on the GPU, the counterpart of kernels/cpu/resize.h (its
// specification), both running the per-pixel and per-plane code of kernels/resize_plane.h:
// forward one thread per output pixel, backward one thread per plane scattering in the CPU's
// order (no atomics: the same bits as the CPU).
#include "kernels/cpu/resize.h"

namespace saliency::kernels::cuda {

template <typename T>
void resize_bilinear_forward(const cpu::ResizeGeometry& g, const T* input, T* output);
template <typename T>
void resize_bilinear_backward(const cpu::ResizeGeometry& g, const T* grad_output, T* grad_input);
template <typename T>
void resize_nearest_forward(const cpu::ResizeGeometry& g, const T* input, T* output);
template <typename T>
void resize_nearest_backward(const cpu::ResizeGeometry& g, const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cuda
