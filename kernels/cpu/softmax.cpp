#include "kernels/cpu/softmax.h"

#include "kernels/cpu/parallel.h"
#include "kernels/row_kernels.h"

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
    rows::softmax_line(g.size, g.inner, log, input + base, output + base);
  });
}

template <typename T>
void softmax_backward(const SoftmaxGeometry& g, bool log, const T* grad_output, const T* output,
                      T* grad_input) {
  for_each_line(g, [&](int64_t base) {
    rows::softmax_line_backward(g.size, g.inner, log, grad_output + base, output + base,
                                grad_input + base);
  });
}

template void softmax_forward<float>(const SoftmaxGeometry&, bool, const float*, float*);
template void softmax_forward<double>(const SoftmaxGeometry&, bool, const double*, double*);
template void softmax_backward<float>(const SoftmaxGeometry&, bool, const float*, const float*,
                                      float*);
template void softmax_backward<double>(const SoftmaxGeometry&, bool, const double*, const double*,
                                       double*);

}  // namespace saliency::kernels::cpu
