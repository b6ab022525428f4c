#pragma once
// 2-D convolution on the GPU: our im2col kernel builds each image's column matrix [C kh kw,
// out_h out_w], one strided-batched cuBLAS GEMM per chunk of images multiplies it by the weights
// (a 1x1 layer without stride or padding needs no columns: the image is its matrix), and
// backward-to-input is the transposed GEMM followed by our col2im gather (no atomics: the same
// bits every run). No cuDNN. The CPU's im2col path is the specification
// (tests/test_cuda_kernels.cpp). Any stride, padding and dilation; one group.
#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cuda {

bool conv2d_supported(const cpu::Conv2dGeometry& g);

// Device pointers; output [N, out_channels, out_h, out_w] without bias.
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output);

// grad_input [N, in_channels, in_h, in_w] (overwritten).
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input);

}  // namespace saliency::kernels::cuda
