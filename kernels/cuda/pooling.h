#pragma once
// Max, average and adaptive average pooling on the GPU, the counterparts of kernels/cpu/pooling.h
// (same geometry, same conventions: padding is -infinity for max, ties go to the first element in
// row-major window order, NaN propagates; an average divides by the padded or the real window
// size). The backward passes gather: each input element sums the gradients of the output cells
// that chose it (max) or cover it (average), in the CPU's order, so no atomics and the same bits.
#include <cstdint>

#include "kernels/cpu/pooling.h"

namespace saliency::kernels::cuda {

template <typename T>
void max_pool2d_forward(const cpu::PoolGeometry& g, const T* input, T* output, int32_t* argmax);
template <typename T>
void max_pool2d_backward(const cpu::PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input);

template <typename T>
void avg_pool2d_forward(const cpu::PoolGeometry& g, bool count_include_pad, const T* input,
                        T* output);
template <typename T>
void avg_pool2d_backward(const cpu::PoolGeometry& g, bool count_include_pad, const T* grad_output,
                         T* grad_input);

template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                 int64_t out_w, const T* input, T* output);
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                  int64_t out_w, const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cuda
