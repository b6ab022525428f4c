#include "kernels/cuda/check.cuh"
#include "kernels/cuda/indexing.h"

namespace saliency::kernels::cuda {
namespace {

// An index space's extents and one operand's strides over it, by value into the kernels.
struct Strides {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t step[kMaxRank] = {};
};

Strides strides_of(const std::vector<int64_t>& dims, const std::vector<int64_t>& step) {
  SALIENCY_CHECK(dims.size() <= size_t(kMaxRank) && step.size() == dims.size(),
                 "CUDA indexing: rank ", dims.size(), " (at most ", kMaxRank, " on the GPU)");
  Strides s;
  s.rank = int(dims.size());
  for (size_t d = 0; d < dims.size(); ++d) s.dims[d] = dims[d], s.step[d] = step[d];
  return s;
}

__device__ inline int64_t offset_of(const Strides& s, int64_t index) {
  int64_t offset = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    offset += index % s.dims[d] * s.step[d];
    index /= s.dims[d];
  }
  return offset;
}

int64_t count_of(const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  return count;
}

template <typename T>
__device__ inline T apply(cpu::BinaryOp op, T a, T b) {
  return op == cpu::BinaryOp::Add ? a + b : (op == cpu::BinaryOp::Sub ? a - b : a * b);
}

}  // namespace

template <typename T>
void strided_copy(const std::vector<int64_t>& dims, const std::vector<int64_t>& source_strides,
                  const T* source, const std::vector<int64_t>& target_strides, T* target) {
  const Strides from = strides_of(dims, source_strides), to = strides_of(dims, target_strides);
  for_each_index("strided copy", count_of(dims), [=] __device__(int64_t i) {
    target[offset_of(to, i)] = source[offset_of(from, i)];
  });
}

template <typename T>
void binary_broadcast(cpu::BinaryOp op, const cpu::BroadcastLayout& layout, const T* a, const T* b,
                      T* out) {
  const Strides sa = strides_of(layout.dims, layout.a_strides);
  const Strides sb = strides_of(layout.dims, layout.b_strides);
  for_each_index("broadcast binary", count_of(layout.dims), [=] __device__(int64_t i) {
    out[i] = apply(op, a[offset_of(sa, i)], b[offset_of(sb, i)]);
  });
}

// One thread per target element: its kept coordinates from its index, then the reduced
// dimensions (target stride 0, extent > 1) walked like an odometer, last fastest: increasing
// source offsets, the order in which the CPU's serial loop adds them.
template <typename T>
void sum_to(const std::vector<int64_t>& dims, const std::vector<int64_t>& target_strides,
            int64_t target_count, const T* source, T* target) {
  std::vector<int64_t> source_strides(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) source_strides[d - 1] = source_strides[d] * dims[d];
  const Strides shape = strides_of(dims, source_strides);
  const Strides kept = strides_of(dims, target_strides);
  for_each_index("sum_to", target_count, [=] __device__(int64_t j) {
    int64_t base = 0;
    int reduced[kMaxRank], reduced_count = 0;
    for (int d = 0; d < shape.rank; ++d) {
      if (kept.step[d] != 0 || shape.dims[d] == 1) {
        if (kept.step[d] != 0) base += j / kept.step[d] % shape.dims[d] * shape.step[d];
      } else {
        reduced[reduced_count++] = d;
      }
    }
    int64_t coordinate[kMaxRank] = {};
    T sum = T(0);
    while (true) {
      int64_t offset = base;
      for (int r = 0; r < reduced_count; ++r) offset += coordinate[r] * shape.step[reduced[r]];
      sum += source[offset];
      int r = reduced_count - 1;
      while (r >= 0 && ++coordinate[r] == shape.dims[reduced[r]]) coordinate[r--] = 0;
      if (r < 0) break;
    }
    target[j] = sum;
  });
}

template <typename T>
void fill_zero(int64_t count, T* out) {
  for_each_index("fill zero", count, [=] __device__(int64_t i) { out[i] = T(0); });
}

#define SALIENCY_INSTANTIATE_CUDA_INDEXING(T)                                                \
  template void strided_copy<T>(const std::vector<int64_t>&, const std::vector<int64_t>&,    \
                                const T*, const std::vector<int64_t>&, T*);                  \
  template void binary_broadcast<T>(cpu::BinaryOp, const cpu::BroadcastLayout&, const T*,    \
                                    const T*, T*);                                           \
  template void sum_to<T>(const std::vector<int64_t>&, const std::vector<int64_t>&, int64_t, \
                          const T*, T*);                                                     \
  template void fill_zero<T>(int64_t, T*);
SALIENCY_INSTANTIATE_CUDA_INDEXING(float)
SALIENCY_INSTANTIATE_CUDA_INDEXING(double)

}  // namespace saliency::kernels::cuda
