#pragma once
// Element-by-element CUDA kernels on device pointers, the counterparts of kernels/cpu/
// elementwise.h (which is their specification: tests/test_cuda_kernels.cpp compares them with
// it). float and double; each launches on the default stream and checks the launch.
#include <cstdint>

#include "kernels/cpu/elementwise.h"

namespace saliency::kernels::cuda {

template <typename T>
void relu_forward(int64_t count, const T* input, T* output);
template <typename T>
void relu_backward(int64_t count, const T* grad_output, const T* output, T* grad_input);
template <typename T>
void relu_backward_guided(int64_t count, const T* grad_output, const T* output, T* grad_input);
template <typename T>
void relu_backward_deconvnet(int64_t count, const T* grad_output, T* grad_input);

// output = scale * input + shift (one rounding per operation, as the CPU kernel's spec).
template <typename T>
void scale_shift(int64_t count, T scale, T shift, const T* input, T* output);

// out = a op b for operands of one shape (the CPU's same-shape fast path).
template <typename T>
void binary_same_shape(cpu::BinaryOp op, int64_t count, const T* a, const T* b, T* out);

}  // namespace saliency::kernels::cuda
