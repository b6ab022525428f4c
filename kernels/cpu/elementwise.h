#pragma once
// Element-by-element kernels: ReLU and its backward rules, unary maps, and binary ops with
// NumPy broadcasting. Broadcast operands are described by strides over the output's
// dimensions, 0 where an operand is broadcast.
#include <cstdint>
#include <vector>

namespace saliency::kernels::cpu {

template <typename T>
void relu_forward(int64_t count, const T* input, T* output);
// Exact gradient; relu'(0) = 0, so the kink passes nothing. Uses the saved output (> 0 exactly
// where the input is > 0).
template <typename T>
void relu_backward(int64_t count, const T* grad_output, const T* output, T* grad_input);
// Guided backprop (Springenberg 2015): pass where the input was positive and the gradient is.
template <typename T>
void relu_backward_guided(int64_t count, const T* grad_output, const T* output, T* grad_input);
// Deconvnet (Zeiler & Fergus 2014): ReLU applied to the gradient, ignoring the input.
template <typename T>
void relu_backward_deconvnet(int64_t count, const T* grad_output, T* grad_input);
// output = relu(a + b) in one pass (a residual block's end, under inference): the values of an
// add followed by relu_forward, bit for bit.
template <typename T>
void add_relu_forward(int64_t count, const T* a, const T* b, T* output);

// Gelu: x * Phi(x) with the exact normal CDF (PyTorch's default, approximate='none').
enum class UnaryOp { Abs, Square, Gelu };
template <typename T>
void unary_forward(UnaryOp op, int64_t count, const T* input, T* output);
// abs'(0) = 0 (sign), square' = 2x, gelu' = Phi(x) + x phi(x).
template <typename T>
void unary_backward(UnaryOp op, int64_t count, const T* grad_output, const T* input, T* grad_input);

// output = scale * input + shift
template <typename T>
void scale_shift(int64_t count, T scale, T shift, const T* input, T* output);

// Copies along a line, for Integrated Gradients' path points: out[k, i] = fma(scales[k],
// direction[i], base[i]) for k < copies (one rounding: std::fma here, fma on the GPU, so both
// devices give the same bits).
template <typename T>
void scaled_copies(int64_t count, const T* base, const T* direction, const T* scales,
                   int64_t copies, T* out);
// accumulator[i] = fma(weights[n - 1], batch[n - 1, i], ... fma(weights[0], batch[0, i],
// accumulator[i]) ...): a weighted sum of n rows added in row order, so that adding a batch at
// once or row by row gives the same bits.
template <typename T>
void accumulate_weighted_rows(int64_t count, const T* batch, const T* weights, int64_t rows,
                              T* accumulator);

// LRP's stabilized ratio (Zennit's stabilizer): out = relevance / (z + eps * sign(z)) with
// sign(0) = +1; with a gate, only where gate > 0 (gate_sign > 0) or gate < 0 (gate_sign < 0),
// else 0. The specification of kernels/cuda's stabilized_ratio.
template <typename T>
void stabilized_ratio(int64_t count, const T* relevance, const T* z, T eps, const T* gate,
                      int gate_sign, T* out);
// Whether any of the `count` values is below zero.
template <typename T>
bool any_negative(int64_t count, const T* values);
// LRP's rule for a sum a + b: each addend keeps its share of the relevance, share_a = a * s and
// share_b = b * s with s = stabilized_ratio(relevance, a + b). One pass, with the same
// arithmetic (and bits) as the add, ratio and two products done as passes of their own.
template <typename T>
void sum_shares(int64_t count, const T* a, const T* b, const T* relevance, T eps, T* share_a,
                T* share_b);

enum class BinaryOp { Add, Sub, Mul };
struct BroadcastLayout {
  std::vector<int64_t> dims;       // the output's shape
  std::vector<int64_t> a_strides;  // element strides of a over `dims`, 0 where broadcast
  std::vector<int64_t> b_strides;
};
template <typename T>
void binary_forward(BinaryOp op, const BroadcastLayout& layout, const T* a, const T* b, T* out);

// target (overwritten) = source [dims] summed over the dimensions where target_strides is 0:
// the adjoint of broadcasting, used for gradients of broadcast operands and for sums over axes.
template <typename T>
void sum_to(const std::vector<int64_t>& dims, const std::vector<int64_t>& target_strides,
            int64_t target_count, const T* source, T* target);

// out [dims] = source read with source_strides (0 where broadcast): the adjoint of sum_to.
template <typename T>
void broadcast_to(const std::vector<int64_t>& dims, const std::vector<int64_t>& source_strides,
                  const T* source, T* out);

}  // namespace saliency::kernels::cpu
