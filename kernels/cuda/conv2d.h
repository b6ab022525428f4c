#pragma once
// 2-D convolution on the GPU as an implicit GEMM, executing the same plans as the CPU's
// kernels/cpu/conv2d_implicit.h (kernels/cpu/conv2d_plan.h): the input is copied into zero-padded
// planes, in whose flat order every tap is a contiguous run shifted by a constant, and a tiled GEMM
// reads A (the weights, in place) and B (the planes) through tap tables; backward-to-input is the
// same correlation of the padded output gradient with the flipped kernel. No im2col matrix, no
// cuDNN. Strided layers are split by phase as on the CPU (each stride phase of the input its
// own plane). The CPU's im2col path is the specification (tests/test_cuda_kernels.cpp). For
// now: no dilation, one group, padding at most kernel - 1, at most kMaxTaps taps.
#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cuda {

// Kernel taps (kernel_h * kernel_w) the CUDA convolution takes: the tap tables ride in the
// kernel's parameters. 8x8; ResNet's and VGG's largest is the 7x7 stem.
constexpr int64_t kMaxTaps = 64;

bool conv2d_supported(const cpu::Conv2dGeometry& g);

// Device pointers; output [N, out_channels, out_h, out_w] without bias.
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output);

// grad_input [N, in_channels, in_h, in_w] (overwritten).
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input);

}  // namespace saliency::kernels::cuda
