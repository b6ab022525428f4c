#include "kernels/cpu/indexing.h"

#include <algorithm>

namespace saliency::kernels::cpu {

template <typename T>
void select_forward(int64_t outer, int64_t size, int64_t inner, int64_t index, const T* input,
                    T* output) {
  for (int64_t o = 0; o < outer; ++o)
    std::copy_n(input + (o * size + index) * inner, inner, output + o * inner);
}

template <typename T>
void select_backward(int64_t outer, int64_t size, int64_t inner, int64_t index,
                     const T* grad_output, T* grad_input) {
  std::fill_n(grad_input, outer * size * inner, T(0));
  for (int64_t o = 0; o < outer; ++o)
    std::copy_n(grad_output + o * inner, inner, grad_input + (o * size + index) * inner);
}

template void select_forward<float>(int64_t, int64_t, int64_t, int64_t, const float*, float*);
template void select_forward<double>(int64_t, int64_t, int64_t, int64_t, const double*, double*);
template void select_backward<float>(int64_t, int64_t, int64_t, int64_t, const float*, float*);
template void select_backward<double>(int64_t, int64_t, int64_t, int64_t, const double*, double*);

}  // namespace saliency::kernels::cpu
