#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// C[m x n] = A B with k over (outer, tap) pairs, taps fastest (as the CPU's ImplicitGemm):
//   A(i, o, t) = a[i * a_row + o * a_outer + a_tap[t]],  B(o, t, j) = b[o * b_outer + b_tap[t] + j]
template <typename T>
struct GemmParams {
  int64_t m, n, outers, taps;
  const T* a;
  int64_t a_row, a_outer;
  const int64_t* a_tap;  // device
  const T* b;
  int64_t b_outer;
  const int64_t* b_tap;  // device
  T* c;
  int64_t ldc;
};

// A block computes a 64 x 64 tile of C with 256 threads, 4 x 4 each, staging 16-deep slices of
// A and B in shared memory (A transposed, so a thread's 4 rows are adjacent). A first version:
// no double buffering, no tensor cores (exact FP32 FMAs, so the CPU's error bound holds).
constexpr int kTile = 64;
constexpr int kDepth = 16;
constexpr int kGemmThreads = 256;

template <typename T>
__global__ void implicit_gemm_kernel(GemmParams<T> p) {
  __shared__ T a_tile[kDepth][kTile];
  __shared__ T b_tile[kDepth][kTile];
  const int thread = threadIdx.x;
  const int64_t row0 = int64_t(blockIdx.y) * kTile, column0 = int64_t(blockIdx.x) * kTile;
  const int my_rows = (thread / 16) * 4, my_columns = (thread % 16) * 4;
  const int64_t depth = p.outers * p.taps;
  T acc[4][4] = {};
  for (int64_t k0 = 0; k0 < depth; k0 += kDepth) {
    for (int e = thread; e < kTile * kDepth; e += kGemmThreads) {
      const int r = e / kDepth, kk = e % kDepth;  // consecutive threads: consecutive k
      const int64_t i = row0 + r, k = k0 + kk;
      T value = T(0);
      if (i < p.m && k < depth)
        value = p.a[i * p.a_row + (k / p.taps) * p.a_outer + p.a_tap[k % p.taps]];
      a_tile[kk][r] = value;
    }
    for (int e = thread; e < kTile * kDepth; e += kGemmThreads) {
      const int kk = e / kTile, c = e % kTile;  // consecutive threads: consecutive columns
      const int64_t j = column0 + c, k = k0 + kk;
      T value = T(0);
      if (j < p.n && k < depth) value = p.b[(k / p.taps) * p.b_outer + p.b_tap[k % p.taps] + j];
      b_tile[kk][c] = value;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kDepth; ++kk) {
      T a[4], b[4];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        a[q] = a_tile[kk][my_rows + q];
        b[q] = b_tile[kk][my_columns + q];
      }
#pragma unroll
      for (int x = 0; x < 4; ++x)
#pragma unroll
        for (int y = 0; y < 4; ++y) acc[x][y] += a[x] * b[y];
    }
    __syncthreads();
  }
  for (int x = 0; x < 4; ++x)
    for (int y = 0; y < 4; ++y) {
      const int64_t i = row0 + my_rows + x, j = column0 + my_columns + y;
      if (i < p.m && j < p.n) p.c[i * p.ldc + j] = acc[x][y];
    }
}

// planes[c][top + y][left + x] = image[c][y][x], zero elsewhere; one thread per plane element.
template <typename T>
__global__ void pad_kernel(int64_t channels, int64_t height, int64_t width, int64_t top,
                           int64_t left, int64_t rows, int64_t columns, const T* image, T* planes) {
  const int64_t total = channels * rows * columns;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e / (rows * columns), y = e / columns % rows - top, x = e % columns - left;
    planes[e] =
        y >= 0 && y < height && x >= 0 && x < width ? image[(c * height + y) * width + x] : T(0);
  }
}

// image[c][y][x] = product[c * ldc + y * stride + x]; one thread per image element.
template <typename T>
__global__ void unpad_kernel(int64_t channels, int64_t height, int64_t width, const T* product,
                             int64_t ldc, int64_t stride, T* image) {
  const int64_t total = channels * height * width;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e / (height * width), y = e / width % height, x = e % width;
    image[e] = product[c * ldc + y * stride + x];
  }
}

// One stride-1 correlation per image: `source` [channels, height, width] padded by (top, left)
// into rows x columns planes, taps at `b_tap` offsets; A addressed as `gemm` says; the result
// [out_channels, out_h, out_w] per image into `target`.
template <typename T>
void correlate(int64_t batch, GemmParams<T> gemm, const std::vector<int64_t>& a_tap,
               const std::vector<int64_t>& b_tap, int64_t channels, int64_t height, int64_t width,
               int64_t top, int64_t left, int64_t rows, int64_t columns, const T* source,
               int64_t out_channels, int64_t out_h, int64_t out_w, T* target) {
  const int64_t flat = (out_h - 1) * columns + out_w;
  DeviceArray<int64_t> a_taps(a_tap), b_taps(b_tap);
  DeviceArray<T> planes(channels * rows * columns), product(out_channels * flat);
  gemm.m = out_channels;
  gemm.n = flat;
  gemm.outers = channels;
  gemm.taps = static_cast<int64_t>(b_tap.size());
  gemm.a_tap = a_taps.data();
  gemm.b = planes.data();
  gemm.b_outer = rows * columns;
  gemm.b_tap = b_taps.data();
  gemm.c = product.data();
  gemm.ldc = flat;
  const dim3 grid(static_cast<unsigned>((flat + kTile - 1) / kTile),
                  static_cast<unsigned>((out_channels + kTile - 1) / kTile));
  for (int64_t image = 0; image < batch; ++image) {
    pad_kernel<<<grid_for(planes.size()), kThreads>>>(
        channels, height, width, top, left, rows, columns,
        source + image * channels * height * width, planes.data());
    check_launch("conv2d: pad");
    implicit_gemm_kernel<<<grid, kGemmThreads>>>(gemm);
    check_launch("conv2d: implicit GEMM");
    unpad_kernel<<<grid_for(out_channels * out_h * out_w), kThreads>>>(
        out_channels, out_h, out_w, product.data(), flat, columns,
        target + image * out_channels * out_h * out_w);
    check_launch("conv2d: unpad");
  }
  // The scratch arrays go back to the cache when this returns; the default stream orders any
  // later kernel that reuses them after these.
}

void require_supported(const cpu::Conv2dGeometry& g) {
  SALIENCY_CHECK(conv2d_supported(g),
                 "conv2d on CUDA: only stride 1, no dilation, one group and padding below the "
                 "kernel size are implemented so far");
}

}  // namespace

bool conv2d_supported(const cpu::Conv2dGeometry& g) {
  return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         g.groups == 1 && g.pad_h < g.kernel_h && g.pad_w < g.kernel_w && g.out_h() > 0 &&
         g.out_w() > 0;
}

template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  require_supported(g);
  const int64_t taps = g.kernel_h * g.kernel_w, columns = g.in_w + 2 * g.pad_w;
  std::vector<int64_t> a_tap(taps), b_tap(taps);
  for (int64_t t = 0; t < taps; ++t) {
    a_tap[t] = t;
    b_tap[t] = t / g.kernel_w * columns + t % g.kernel_w;
  }
  GemmParams<T> gemm{};
  gemm.a = weight;
  gemm.a_row = g.in_channels * taps;
  gemm.a_outer = taps;
  correlate(g.batch, gemm, a_tap, b_tap, g.in_channels, g.in_h, g.in_w, g.pad_h, g.pad_w,
            g.in_h + 2 * g.pad_h, columns, input, g.out_channels, g.out_h(), g.out_w(), output);
}

template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  require_supported(g);
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t top = g.kernel_h - 1 - g.pad_h, left = g.kernel_w - 1 - g.pad_w;
  const int64_t columns = g.out_w() + 2 * left;
  std::vector<int64_t> a_tap(taps), b_tap(taps);
  for (int64_t t = 0; t < taps; ++t) {
    a_tap[t] = t;
    b_tap[t] = (g.kernel_h - 1 - t / g.kernel_w) * columns + (g.kernel_w - 1 - t % g.kernel_w);
  }
  GemmParams<T> gemm{};
  gemm.a = weight;
  gemm.a_row = taps;
  gemm.a_outer = g.in_channels * taps;
  correlate(g.batch, gemm, a_tap, b_tap, g.out_channels, g.out_h(), g.out_w(), top, left,
            g.out_h() + 2 * top, columns, grad_output, g.in_channels, g.in_h, g.in_w, grad_input);
}

template void conv2d_forward<float>(const cpu::Conv2dGeometry&, const float*, const float*, float*);
template void conv2d_forward<double>(const cpu::Conv2dGeometry&, const double*, const double*,
                                     double*);
template void conv2d_backward_input<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                           float*);
template void conv2d_backward_input<double>(const cpu::Conv2dGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
