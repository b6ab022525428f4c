#include "kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

// Calls fn(base) for each (outer, inner) line; elements of a line are base + k * inner.
template <typename Fn>
void for_each_line(const SoftmaxGeometry& g, Fn fn) {
  parallel_for(0, g.outer * g.inner, grain_for(g.size), [&](int64_t lo, int64_t hi) {
    for (int64_t line = lo; line < hi; ++line)
      fn((line / g.inner) * g.size * g.inner + line % g.inner);
  });
}

}  // namespace

template <typename T>
void softmax_forward(const SoftmaxGeometry& g, bool log, const T* input, T* output) {
  for_each_line(g, [&](int64_t base) {
    T peak = -std::numeric_limits<T>::infinity();
    for (int64_t k = 0; k < g.size; ++k) peak = std::max(peak, input[base + k * g.inner]);
    T total = 0;
    for (int64_t k = 0; k < g.size; ++k) total += std::exp(input[base + k * g.inner] - peak);
    const T log_total = std::log(total);
    for (int64_t k = 0; k < g.size; ++k) {
      const T shifted = input[base + k * g.inner] - peak;
      output[base + k * g.inner] = log ? shifted - log_total : std::exp(shifted) / total;
    }
  });
}

template <typename T>
void softmax_backward(const SoftmaxGeometry& g, bool log, const T* grad_output, const T* output,
                      T* grad_input) {
  for_each_line(g, [&](int64_t base) {
    T dot = 0;
    for (int64_t k = 0; k < g.size; ++k) {
      const int64_t i = base + k * g.inner;
      dot += log ? grad_output[i] : grad_output[i] * output[i];
    }
    for (int64_t k = 0; k < g.size; ++k) {
      const int64_t i = base + k * g.inner;
      grad_input[i] =
          log ? grad_output[i] - std::exp(output[i]) * dot : output[i] * (grad_output[i] - dot);
    }
  });
}

template void softmax_forward<float>(const SoftmaxGeometry&, bool, const float*, float*);
template void softmax_forward<double>(const SoftmaxGeometry&, bool, const double*, double*);
template void softmax_backward<float>(const SoftmaxGeometry&, bool, const float*, const float*,
                                      float*);
template void softmax_backward<double>(const SoftmaxGeometry&, bool, const double*, const double*,
                                       double*);

}  // namespace saliency::kernels::cpu
