#pragma once
// Copies over index spaces: rows of slabs (select, concat and narrow, and their gradients) and
// permutations.
#include <cstdint>
#include <vector>

namespace saliency::kernels::cpu {

// For o in [0, outer): out[o * out_row + out_offset + i] = in[o * in_row + in_offset + i],
// i < slab. Concatenation writes each input into its slab of the output; its backward reads
// the slabs back out. select is the slab of one index along a dimension (its gradient: that
// slab written into zeros).
template <typename T>
void copy_slabs(int64_t outer, int64_t slab, int64_t in_row, int64_t in_offset, int64_t out_row,
                int64_t out_offset, const T* input, T* output);

// output = input with its dimensions reordered: output dimension d is input dimension
// order[d] (torch.permute).
template <typename T>
void permute_copy(const std::vector<int64_t>& input_dims, const std::vector<int64_t>& order,
                  const T* input, T* output);

}  // namespace saliency::kernels::cpu
