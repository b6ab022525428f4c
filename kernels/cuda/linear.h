#pragma once
// The fully connected layer on the GPU, counterpart of kernels/cpu/linear.h: output[N, out] =
// input[N, in] weight[out, in]^T + bias (bias may be null), and the gradients to the input and
// the weights, each one cuBLAS GEMM (kernels/cuda/gemm.h), plus our bias kernels.
#include "kernels/cpu/linear.h"

namespace saliency::kernels::cuda {

template <typename T>
void linear_forward(const cpu::LinearGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output);

// grad_input[N, in] = grad_output[N, out] weight[out, in]
template <typename T>
void linear_backward_input(const cpu::LinearGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input);

// grad_weight[out, in] = grad_output^T input (one GEMM); grad_bias[out] = the column sums of
// grad_output, rows in order (the CPU's bits).
template <typename T>
void linear_backward_weight(const cpu::LinearGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight);
template <typename T>
void linear_backward_bias(const cpu::LinearGeometry& g, const T* grad_output, T* grad_bias);

}  // namespace saliency::kernels::cuda
