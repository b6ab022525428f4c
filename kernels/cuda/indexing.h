#pragma once
// Copies and reductions over strided index spaces on the GPU, the counterparts of the CPU's
// select / concat / narrow / permute (kernels/cpu/indexing.h) and of broadcasting
// (kernels/cpu/elementwise.h: binary_forward, sum_to, broadcast_to), which are their
// specification (tests/test_cuda_kernels.cpp). Tensors of rank up to kMaxRank.
#include <cstdint>
#include <vector>

#include "kernels/cpu/elementwise.h"

namespace saliency::kernels::cuda {

constexpr int kMaxRank = 8;

// For every index i of a row-major [dims] space: target[base_t + offset(i, target_strides)] =
// source[base_s + offset(i, source_strides)], offset(i, s) = sum_d coordinate_d(i) * s[d]. A
// permute reads the input with its strides reordered; select, concat and narrow copy a slab of
// rows; broadcast_to reads with 0 strides.
template <typename T>
void strided_copy(const std::vector<int64_t>& dims, const std::vector<int64_t>& source_strides,
                  const T* source, const std::vector<int64_t>& target_strides, T* target);

// out [layout.dims] = a op b, each read with its (broadcast) strides.
template <typename T>
void binary_broadcast(cpu::BinaryOp op, const cpu::BroadcastLayout& layout, const T* a, const T* b,
                      T* out);

// target (overwritten, target_count elements) = source [dims] summed over the dimensions where
// target_strides is 0, each target element's terms added in source order as the CPU adds them.
template <typename T>
void sum_to(const std::vector<int64_t>& dims, const std::vector<int64_t>& target_strides,
            int64_t target_count, const T* source, T* target);

template <typename T>
void fill_zero(int64_t count, T* out);

}  // namespace saliency::kernels::cuda
