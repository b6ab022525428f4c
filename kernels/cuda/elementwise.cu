#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/profile.h"

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

// out[i] = op(a[i], b[i]) four floats at a time: one 16-byte load per operand and thread, as
// streaming kernels need to approach the memory's bandwidth. Threads of the first block also
// take the 0-3 elements past the last whole quad.
template <typename Op>
__global__ void map_quads_kernel(int64_t count, const float* a, const float* b, float* out, Op op) {
  const int64_t quads = count / 4;
  const float4* a4 = reinterpret_cast<const float4*>(a);
  const float4* b4 = reinterpret_cast<const float4*>(b);
  float4* out4 = reinterpret_cast<float4*>(out);
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < quads;
       q += int64_t(gridDim.x) * blockDim.x) {
    const float4 x = a4[q], y = b ? b4[q] : x;
    out4[q] = make_float4(op(x.x, y.x), op(x.y, y.y), op(x.z, y.z), op(x.w, y.w));
  }
  const int64_t rest = quads * 4 + threadIdx.x;
  if (blockIdx.x == 0 && rest < count) out[rest] = op(a[rest], b ? b[rest] : a[rest]);
}

template <typename T, typename Op>
__global__ void map_kernel(int64_t count, const T* a, const T* b, T* out, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = op(a[i], b ? b[i] : a[i]);
}

bool aligned_16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// out[i] = op(a[i], b[i]) for every i (b may be null: op then sees a[i] twice). Float arrays on
// 16-byte boundaries (every allocation, and views of them at multiples of four elements) go four
// at a time; the rest one at a time, with the same op: the same bits either way.
template <typename T, typename Op>
void map(const char* name, int64_t count, const T* a, const T* b, T* out, Op op) {
  if (count <= 0) return;
  const ProfiledLaunch timed(name);
  if constexpr (std::is_same_v<T, float>) {
    if (aligned_16(a) && aligned_16(out) && (!b || aligned_16(b))) {
      map_quads_kernel<<<grid_for((count + 3) / 4), kThreads>>>(count, a, b, out, op);
      check_launch(name);
      return;
    }
  }
  map_kernel<<<grid_for(count), kThreads>>>(count, a, b, out, op);
  check_launch(name);
}

}  // namespace

template <typename T>
void relu_forward(int64_t count, const T* input, T* output) {
  map("relu", count, input, static_cast<const T*>(nullptr), output,
      [] __device__(T x, T) { return x > T(0) ? x : T(0); });
}

template <typename T>
void relu_backward(int64_t count, const T* grad_output, const T* output, T* grad_input) {
  map("relu backward", count, grad_output, output, grad_input,
      [] __device__(T gradient, T y) { return y > T(0) ? gradient : T(0); });
}

template <typename T>
void relu_backward_guided(int64_t count, const T* grad_output, const T* output, T* grad_input) {
  map("relu backward (guided)", count, grad_output, output, grad_input,
      [] __device__(T gradient, T y) { return y > T(0) && gradient > T(0) ? gradient : T(0); });
}

template <typename T>
void relu_backward_deconvnet(int64_t count, const T* grad_output, T* grad_input) {
  map("relu backward (deconvnet)", count, grad_output, static_cast<const T*>(nullptr), grad_input,
      [] __device__(T gradient, T) { return gradient > T(0) ? gradient : T(0); });
}

template <typename T>
void scale_shift(int64_t count, T scale, T shift, const T* input, T* output) {
  map("scale_shift", count, input, static_cast<const T*>(nullptr), output,
      [=] __device__(T x, T) { return multiply_then_add(scale, x, shift); });
}

template <typename T>
void scaled_copies(int64_t count, const T* base, const T* direction, const T* scales,
                   int64_t copies, T* out) {
  const DeviceArray<T> device_scales(std::vector<T>(scales, scales + copies));
  const T* factor = device_scales.data();
  const int per_copy = narrow_to_int(count, "scaled copies: elements per copy");
  for_each_index("scaled copies", count * copies, [=] __device__(auto e) {
    const auto k = e / per_copy;
    const int i = int(e - k * per_copy);
    out[e] = fma(factor[k], direction[i], base[i]);
  });
}

template <typename T>
void accumulate_weighted_rows(int64_t count, const T* batch, const T* weights, int64_t rows,
                              T* accumulator) {
  const DeviceArray<T> device_weights(std::vector<T>(weights, weights + rows));
  const T* weight = device_weights.data();
  for_each_index("accumulate weighted rows", count, [=] __device__(int64_t i) {
    T sum = accumulator[i];
    for (int64_t k = 0; k < rows; ++k) sum = fma(weight[k], batch[k * count + i], sum);
    accumulator[i] = sum;
  });
}

template <typename T>
void binary_same_shape(cpu::BinaryOp op, int64_t count, const T* a, const T* b, T* out) {
  switch (op) {
    case cpu::BinaryOp::Add:
      map("add", count, a, b, out, [] __device__(T x, T y) { return x + y; });
      break;
    case cpu::BinaryOp::Sub:
      map("sub", count, a, b, out, [] __device__(T x, T y) { return x - y; });
      break;
    case cpu::BinaryOp::Mul:
      map("mul", count, a, b, out, [] __device__(T x, T y) { return x * y; });
      break;
  }
}

template <typename T>
void unary_forward(cpu::UnaryOp op, int64_t count, const T* input, T* output) {
  const T* none = nullptr;
  switch (op) {
    case cpu::UnaryOp::Abs:
      map("abs", count, input, none, output, [] __device__(T x, T) { return fabs(x); });
      break;
    case cpu::UnaryOp::Square:
      map("square", count, input, none, output, [] __device__(T x, T) { return x * x; });
      break;
    case cpu::UnaryOp::Gelu:  // x Phi(x), exact, as the CPU's
      map("gelu", count, input, none, output,
          [] __device__(T x, T) { return T(0.5) * x * (T(1) + erf(x * T(M_SQRT1_2))); });
      break;
  }
}

template <typename T>
void unary_backward(cpu::UnaryOp op, int64_t count, const T* grad_output, const T* input,
                    T* grad_input) {
  switch (op) {
    case cpu::UnaryOp::Abs:
      map("abs backward", count, grad_output, input, grad_input, [] __device__(T g, T x) {
        const T sign = x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
        return sign * g;
      });
      break;
    case cpu::UnaryOp::Square:  // products only: nothing for nvcc to contract into an FMA
      map("square backward", count, grad_output, input, grad_input,
          [] __device__(T g, T x) { return T(2) * x * g; });
      break;
    case cpu::UnaryOp::Gelu:
      map("gelu backward", count, grad_output, input, grad_input, [] __device__(T g, T x) {
        const T cdf = T(0.5) * (T(1) + erf(x * T(M_SQRT1_2)));
        const T pdf = exp(T(-0.5) * x * x) * T(0.3989422804014327);  // 1 / sqrt(2 pi)
        return g * (cdf + x * pdf);
      });
      break;
  }
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
void sum_shares(int64_t count, const T* a, const T* b, const T* relevance, T eps, T* share_a,
                T* share_b) {
  for_each_index("lrp sum shares", count, [=] __device__(int64_t i) {
    const T z = a[i] + b[i];
    const T ratio = relevance[i] / (z + (z < T(0) ? -eps : eps));
    share_a[i] = a[i] * ratio;
    share_b[i] = b[i] * ratio;
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

// One block row per plane (blockIdx.y, at most 65535 of them per launch), so the channel is one
// modulo per thread rather than a division per element; planes of a multiple of four elements
// on a 16-byte boundary go four at a time.
template <typename T>
__global__ void channel_bias_kernel(int first_plane, int channels, int plane_size, const T* bias,
                                    T* data) {
  const int plane = first_plane + blockIdx.y;
  const T b = bias[plane % channels];
  T* values = data + int64_t(plane) * plane_size;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < plane_size; i += gridDim.x * blockDim.x)
    values[i] += b;
}

__global__ void channel_bias_quads_kernel(int first_plane, int channels, int plane_quads,
                                          const float* bias, float* data) {
  const int plane = first_plane + blockIdx.y;
  const float b = bias[plane % channels];
  float4* values = reinterpret_cast<float4*>(data) + int64_t(plane) * plane_quads;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < plane_quads;
       i += gridDim.x * blockDim.x) {
    float4 v = values[i];
    v.x += b, v.y += b, v.z += b, v.w += b;
    values[i] = v;
  }
}

template <typename T>
void add_channel_bias(int64_t planes, int64_t channels, int64_t plane_size, const T* bias,
                      T* data) {
  if (planes <= 0 || plane_size <= 0) return;
  const ProfiledLaunch timed("conv2d bias");
  bool quads = false;
  if constexpr (std::is_same_v<T, float>) quads = plane_size % 4 == 0 && aligned_16(data);
  const int64_t per_plane = quads ? plane_size / 4 : plane_size;
  const unsigned threads = plane_threads(per_plane);
  const unsigned blocks_x = unsigned(std::min<int64_t>((per_plane + threads - 1) / threads, 64));
  const int size = narrow_to_int(per_plane, "conv2d bias: plane size");
  const int channel_count = narrow_to_int(channels, "conv2d bias: channels");
  for (int64_t first = 0; first < planes; first += 65535) {
    const dim3 grid(blocks_x, unsigned(std::min<int64_t>(planes - first, 65535)));
    const int first_plane = narrow_to_int(first, "conv2d bias: planes");
    if constexpr (std::is_same_v<T, float>) {
      if (quads)
        channel_bias_quads_kernel<<<grid, threads>>>(first_plane, channel_count, size, bias, data);
      else
        channel_bias_kernel<<<grid, threads>>>(first_plane, channel_count, size, bias, data);
    } else {
      channel_bias_kernel<<<grid, threads>>>(first_plane, channel_count, size, bias, data);
    }
    check_launch("conv2d bias");
  }
}

#define SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(T)                                        \
  template void relu_forward<T>(int64_t, const T*, T*);                                 \
  template void relu_backward<T>(int64_t, const T*, const T*, T*);                      \
  template void relu_backward_guided<T>(int64_t, const T*, const T*, T*);               \
  template void relu_backward_deconvnet<T>(int64_t, const T*, T*);                      \
  template void scale_shift<T>(int64_t, T, T, const T*, T*);                            \
  template void scaled_copies<T>(int64_t, const T*, const T*, const T*, int64_t, T*);   \
  template void accumulate_weighted_rows<T>(int64_t, const T*, const T*, int64_t, T*);  \
  template void binary_same_shape<T>(cpu::BinaryOp, int64_t, const T*, const T*, T*);   \
  template void add_channel_bias<T>(int64_t, int64_t, int64_t, const T*, T*);           \
  template void stabilized_ratio<T>(int64_t, const T*, const T*, T, const T*, int, T*); \
  template bool any_negative<T>(int64_t, const T*);                                     \
  template void sum_shares<T>(int64_t, const T*, const T*, const T*, T, T*, T*);        \
  template void unary_forward<T>(cpu::UnaryOp, int64_t, const T*, T*);                  \
  template void unary_backward<T>(cpu::UnaryOp, int64_t, const T*, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(float)
SALIENCY_INSTANTIATE_CUDA_ELEMENTWISE(double)

}  // namespace saliency::kernels::cuda
