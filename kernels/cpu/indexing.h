#pragma once
// Picking one index along a dimension (select) and its adjoint. The tensor is seen as
// [outer, size, inner]; select keeps [outer, inner].
#include <cstdint>

namespace saliency::kernels::cpu {

template <typename T>
void select_forward(int64_t outer, int64_t size, int64_t inner, int64_t index, const T* input,
                    T* output);
// grad_input (overwritten) is zero except at `index`.
template <typename T>
void select_backward(int64_t outer, int64_t size, int64_t inner, int64_t index,
                     const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cpu
