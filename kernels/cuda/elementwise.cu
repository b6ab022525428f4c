#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// scale * x + shift with two roundings: __fmul_rn / __fadd_rn keep nvcc from contracting it
// into an FMA. (A CPU build that contracts differs by at most one rounding; tests allow it.)
__device__ inline float multiply_then_add(float scale, float x, float shift) {
  return __fadd_rn(__fmul_rn(scale, x), shift);
}
__device__ inline double multiply_then_add(double scale, double x, double shift) {
  return __dadd_rn(__dmul_rn(scale, x), shift);
}

}  // namespace

template <typename T>
void relu_forward(int64_t count, const T* input, T* output) {
  for_each_index("relu", count,
                 [=] __device__(int64_t i) { output[i] = input[i] > T(0) ? input[i] : T(0); });
}

template <typename T>
void relu_backward(int64_t count, const T* grad_output, const T* output, T* grad_input) {
  for_each_index("relu backward", count, [=] __device__(int64_t i) {
    grad_input[i] = output[i] > T(0) ? grad_output[i] : T(0);
  });
}

template <typename T>
void relu_backward_guided(int64_t count, const T* grad_output, const T* output, T* grad_input) {
  for_each_index("relu backward (guided)", count, [=] __device__(int64_t i) {
    const T gradient = grad_output[i];
    grad_input[i] = output[i] > T(0) && gradient > T(0) ? gradient : T(0);
  });
}

template <typename T>
void relu_backward_deconvnet(int64_t count, const T* grad_output, T* grad_input) {
  for_each_index("relu backward (deconvnet)", count, [=] __device__(int64_t i) {
    grad_input[i] = grad_output[i] > T(0) ? grad_output[i] : T(0);
  });
}

template <typename T>
void scale_shift(int64_t count, T scale, T shift, const T* input, T* output) {
  for_each_index("scale_shift", count, [=] __device__(int64_t i) {
    output[i] = multiply_then_add(scale, input[i], shift);
  });
}

template <typename T>
void binary_same_shape(cpu::BinaryOp op, int64_t count, const T* a, const T* b, T* out) {
  switch (op) {
    case cpu::BinaryOp::Add:
      for_each_index("add", count, [=] __device__(int64_t i) { out[i] = a[i] + b[i]; });
      break;
    case cpu::BinaryOp::Sub:
      for_each_index("sub", count, [=] __device__(int64_t i) { out[i] = a[i] - b[i]; });
      break;
    case cpu::BinaryOp::Mul:
      for_each_index("mul", count, [=] __device__(int64_t i) { out[i] = a[i] * b[i]; });
      break;
  }
}

template <typename T>
void unary_forward(cpu::UnaryOp op, int64_t count, const T* input, T* output) {
  SALIENCY_CHECK(op != cpu::UnaryOp::Gelu, "gelu: no CUDA kernel");
  if (op == cpu::UnaryOp::Abs)
    for_each_index("abs", count, [=] __device__(int64_t i) { output[i] = fabs(input[i]); });
  else
    for_each_index("square", count, [=] __device__(int64_t i) { output[i] = input[i] * input[i]; });
}

template <typename T>
void unary_backward(cpu::UnaryOp op, int64_t count, const T* grad_output, const T* input,
                    T* grad_input) {
  SALIENCY_CHECK(op != cpu::UnaryOp::Gelu, "gelu backward: no CUDA kernel");
  if (op == cpu::UnaryOp::Abs)
    for_each_index("abs backward", count, [=] __device__(int64_t i) {
      const T sign = input[i] > T(0) ? T(1) : (input[i] < T(0) ? T(-1) : T(0));
      grad_input[i] = sign * grad_output[i];
    });
  else  // products only: nothing for nvcc to contract into an FMA
    for_each_index("square backward", count,
                   [=] __device__(int64_t i) { grad_input[i] = T(2) * input[i] * grad_output[i]; });
}

template <typename T>
void stabilized_ratio(int64_t count, const T* relevance, const T* z, T eps, const T* gate,
                      int gate_sign, T* out) {
  for_each_index("lrp stabilized ratio", count, [=] __device__(int64_t i) {
    const bool open = !gate || (gate_sign > 0 ? gate[i] > T(0) : gate[i] < T(0));
    out[i] = open ? relevance[i] / (z[i] + (z[i] < T(0) ? -eps : eps)) : T(0);
  });
}

template <typename T>
bool any_negative(int64_t count, const T* values) {
  DeviceArray<int> found(std::vector<int>{0});
  int* flag = found.data();
  for_each_index("any_negative", count, [=] __device__(int64_t i) {
    if (values[i] < T(0)) *flag = 1;  // racing writes all store 1
  });
  return found.download()[0] != 0;
}

template <typename T>
void add_channel_bias(int64_t planes, int64_t channels, int64_t plane_size, const T* bias,
                      T* data) {
  for_each_index("conv2d bias", planes * plane_size,
                 [=] __device__(int64_t i) { data[i] += bias[(i / plane_size) % channels]; });
}

#define SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(T)                                        \
  template void relu_forward<T>(int64_t, const T*, T*);                                 \
  template void relu_backward<T>(int64_t, const T*, const T*, T*);                      \
  template void relu_backward_guided<T>(int64_t, const T*, const T*, T*);               \
  template void relu_backward_deconvnet<T>(int64_t, const T*, T*);                      \
  template void scale_shift<T>(int64_t, T, T, const T*, T*);                            \
  template void binary_same_shape<T>(cpu::BinaryOp, int64_t, const T*, const T*, T*);   \
  template void add_channel_bias<T>(int64_t, int64_t, int64_t, const T*, T*);           \
  template void stabilized_ratio<T>(int64_t, const T*, const T*, T, const T*, int, T*); \
  template bool any_negative<T>(int64_t, const T*);                                     \
  template void unary_forward<T>(cpu::UnaryOp, int64_t, const T*, T*);                  \
  template void unary_backward<T>(cpu::UnaryOp, int64_t, const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(float)
SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(double)

}  // namespace saliency::kernels::cuda
