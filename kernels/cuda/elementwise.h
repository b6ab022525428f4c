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

// The CPU's scaled_copies and accumulate_weighted_rows (kernels/cpu/elementwise.h), bit for bit;
// scales and weights are host arrays (copied to the device with the call).
template <typename T>
void scaled_copies(int64_t count, const T* base, const T* direction, const T* scales,
                   int64_t copies, T* out);
template <typename T>
void accumulate_weighted_rows(int64_t count, const T* batch, const T* weights, int64_t rows,
                              T* accumulator);

// out = a op b for operands of one shape (the CPU's same-shape fast path).
template <typename T>
void binary_same_shape(cpu::BinaryOp op, int64_t count, const T* a, const T* b, T* out);

// |x|, x * x and GELU and their backward passes, as the CPU's unary_forward / unary_backward
// (erf and exp may differ from the C library's in the last bit).
template <typename T>
void unary_forward(cpu::UnaryOp op, int64_t count, const T* input, T* output);
template <typename T>
void unary_backward(cpu::UnaryOp op, int64_t count, const T* grad_output, const T* input,
                    T* grad_input);

// LRP's stabilized ratio: out = relevance / (z + eps * sign(z)), sign(0) = +1; with a gate, only
// where gate > 0 (gate_sign > 0) or gate < 0 (gate_sign < 0), else 0. The counterpart of the
// loop in saliency/lrp.cpp, element for element the same arithmetic.
template <typename T>
void stabilized_ratio(int64_t count, const T* relevance, const T* z, T eps, const T* gate,
                      int gate_sign, T* out);
// Whether any of the `count` values is below zero (one synchronizing copy of the answer).
template <typename T>
bool any_negative(int64_t count, const T* values);
// LRP's rule for a sum a + b: share_a = a * s, share_b = b * s, s = stabilized_ratio(relevance,
// a + b); the CPU's sum_shares is its specification.
template <typename T>
void sum_shares(int64_t count, const T* a, const T* b, const T* relevance, T eps, T* share_a,
                T* share_b);

// data[n, c, i] += bias[c] for `planes` = batch * channels planes of `plane_size` elements (a
// convolution's bias, added after its sum as the CPU's im2col path does).
template <typename T>
void add_channel_bias(int64_t planes, int64_t channels, int64_t plane_size, const T* bias, T* data);

}  // namespace saliency::kernels::cuda
