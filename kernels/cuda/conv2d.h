#pragma once
// 2-D convolution on the GPU: our im2col kernel builds each image's column matrix [C kh kw,
// out_h out_w], one strided-batched cuBLAS GEMM per chunk of images multiplies it by the weights
// (a 1x1 layer without stride or padding needs no columns: the image is its matrix; small maps
// put a chunk's columns side by side for one wide GEMM, see ConvLayout), and
// backward-to-input is the transposed GEMM followed by our col2im gather (no atomics: the same
// bits every run). No cuDNN. The CPU's im2col path is the specification
// (tests/test_cuda_kernels.cpp). Any stride, padding and dilation; one group.
#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cuda {

bool conv2d_supported(const cpu::Conv2dGeometry& g);

// How a chunk of images meets the GEMM. PerImage: one product per image (strided batched), the
// image's columns [C kh kw, out_hw] (a pointwise layer's image itself). Wide: the chunk's columns
// side by side, [C kh kw, images out_hw], one product whose output is reordered to NCHW (and,
// backward, the gradient reordered first): better on small maps. Auto: wide up to
// kWideMaxPixels output pixels (kWidePointwiseMaxPixels for a 1x1 layer without stride or
// padding). Tests run every shape both ways.
enum class ConvLayout { Auto, PerImage, Wide };
constexpr int64_t kWideMaxPixels = 196, kWidePointwiseMaxPixels = 49;

// Device pointers; output [N, out_channels, out_h, out_w]; bias [out_channels] or null.
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output, ConvLayout layout = ConvLayout::Auto);

// grad_input [N, in_channels, in_h, in_w] (overwritten).
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input, ConvLayout layout = ConvLayout::Auto);

// grad_weight [out_channels, in_channels, kh, kw] (overwritten) = the sum over images of
// grad_output_i times columns_i^T: one GEMM per chunk of images, its columns wide. grad_bias
// [out_channels] = grad_output summed over images and pixels, in the CPU's order.
template <typename T>
void conv2d_backward_weight(const cpu::Conv2dGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight);
template <typename T>
void conv2d_backward_bias(const cpu::Conv2dGeometry& g, const T* grad_output, T* grad_bias);

}  // namespace saliency::kernels::cuda
