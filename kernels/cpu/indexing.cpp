#include "kernels/cpu/indexing.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {

template <typename T>
void copy_slabs(int64_t outer, int64_t slab, int64_t in_row, int64_t in_offset, int64_t out_row,
                int64_t out_offset, const T* input, T* output) {
  parallel_for(0, outer, grain_for(slab), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      std::copy_n(input + o * in_row + in_offset, slab, output + o * out_row + out_offset);
  });
}

template <typename T>
void permute_copy(const std::vector<int64_t>& input_dims, const std::vector<int64_t>& order,
                  const T* input, T* output) {
  const size_t rank = input_dims.size();
  std::vector<int64_t> input_strides(rank, 1), dims(rank), strides(rank);
  for (size_t d = rank; d-- > 1;) input_strides[d - 1] = input_strides[d] * input_dims[d];
  for (size_t d = 0; d < rank; ++d) {
    dims[d] = input_dims[size_t(order[d])];
    strides[d] = input_strides[size_t(order[d])];
  }
  if (rank == 0) {
    output[0] = input[0];
    return;
  }
  // Rows of the output's last dimension; each row walks the input with one stride.
  const int64_t inner = dims[rank - 1], step = strides[rank - 1];
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= dims[d];
  parallel_for(0, rows, grain_for(inner), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t offset = 0, rest = row;
      for (size_t d = rank - 1; d-- > 0;) {
        offset += (rest % dims[d]) * strides[d];
        rest /= dims[d];
      }
      T* out = output + row * inner;
      for (int64_t i = 0; i < inner; ++i) out[i] = input[offset + i * step];
    }
  });
}

#define SALIENCY_INSTANTIATE_MOVES(T)                                                              \
  template void copy_slabs<T>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*); \
  template void permute_copy<T>(const std::vector<int64_t>&, const std::vector<int64_t>&,          \
                                const T*, T*);
SALIENCY_INSTANTIATE_MOVES(float)
SALIENCY_INSTANTIATE_MOVES(double)

}  // namespace saliency::kernels::cpu
