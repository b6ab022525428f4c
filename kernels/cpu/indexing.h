#pragma once
// Picking one index along a dimension (select) and its adjoint. The tensor is seen as
// [outer, size, inner]; select keeps [outer, inner].
#include <cstdint>
#include <vector>

namespace saliency::kernels::cpu {

template <typename T>
void select_forward(int64_t outer, int64_t size, int64_t inner, int64_t index, const T* input,
                    T* output);
// grad_input (overwritten) is zero except at `index`.
template <typename T>
void select_backward(int64_t outer, int64_t size, int64_t inner, int64_t index,
                     const T* grad_output, T* grad_input);

// For o in [0, outer): out[o * out_row + out_offset + i] = in[o * in_row + in_offset + i],
// i < slab. Concatenation writes each input into its slab of the output; its backward reads
// the slabs back out.
template <typename T>
void copy_slabs(int64_t outer, int64_t slab, int64_t in_row, int64_t in_offset, int64_t out_row,
                int64_t out_offset, const T* input, T* output);

// output = input with its dimensions reordered: output dimension d is input dimension
// order[d] (torch.permute).
template <typename T>
void permute_copy(const std::vector<int64_t>& input_dims, const std::vector<int64_t>& order,
                  const T* input, T* output);

}  // namespace saliency::kernels::cpu
