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

// The CPU's PhasePlanes (kernels/cpu/conv2d_implicit.cpp): channel c's plane (a, b) holds
// image[c][sh * y + a - top][sw * x + b - left] at (y, x), zero outside the image, each plane
// rows x columns; with stride 1 that is the zero-padded image.
struct PhasePlanes {
  int64_t channels, height, width, top, left, stride_h, stride_w, rows, columns;
  int64_t plane() const { return rows * columns; }
  int64_t channel() const { return stride_h * stride_w * plane(); }
  int64_t offset(int64_t a, int64_t b, int64_t dy, int64_t dx) const {
    return (a * stride_w + b) * plane() + dy * columns + dx;
  }
};

// One thread per plane element.
template <typename T>
__global__ void split_phases_kernel(PhasePlanes p, int64_t plane, int64_t total, const T* image,
                                    T* planes) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t phase = e / plane % (p.stride_h * p.stride_w);
    const int64_t c = e / (plane * p.stride_h * p.stride_w);
    const int64_t y = e / p.columns % p.rows, x = e % p.columns;
    const int64_t source_y = p.stride_h * y + phase / p.stride_w - p.top;
    const int64_t source_x = p.stride_w * x + phase % p.stride_w - p.left;
    planes[e] = source_y >= 0 && source_y < p.height && source_x >= 0 && source_x < p.width
                    ? image[(c * p.height + source_y) * p.width + source_x]
                    : T(0);
  }
}

// Where C's rows x columns block of positions goes in each [channels, height, width] image:
// (r, q) -> (row0 + r * row_step, column0 + q * column_step).
struct Placement {
  int64_t height, width, rows, columns, row0, row_step, column0, column_step;
};

// image[c][placed (r, q)] = product[c * ldc + r * stride + q], or 0 with no product; one thread
// per placed element.
template <typename T>
__global__ void scatter_kernel(int64_t channels, Placement at, const T* product, int64_t ldc,
                               int64_t stride, T* image) {
  const int64_t total = channels * at.rows * at.columns;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e / (at.rows * at.columns), r = e / at.columns % at.rows, q = e % at.columns;
    const int64_t y = at.row0 + r * at.row_step, x = at.column0 + q * at.column_step;
    image[(c * at.height + y) * at.width + x] =
        product == nullptr ? T(0) : product[c * ldc + r * stride + q];
  }
}

// Per image: the source split into `planes`, one GEMM whose C rows hold at.rows runs of
// planes.columns flat positions (the last at.columns long) from flat offset `first`, scattered
// into the target as `at` places it. A comes filled in `gemm`.
template <typename T>
void correlate(int64_t batch, GemmParams<T> gemm, const std::vector<int64_t>& a_tap,
               const std::vector<int64_t>& b_tap, const PhasePlanes& planes, const T* source,
               int64_t first, int64_t target_channels, const Placement& at, T* target) {
  const int64_t flat = (at.rows - 1) * planes.columns + at.columns;
  DeviceArray<int64_t> a_taps(a_tap), b_taps(b_tap);
  DeviceArray<T> split(planes.channels * planes.channel()), product(target_channels * flat);
  gemm.m = target_channels;
  gemm.n = flat;
  gemm.outers = planes.channels;
  gemm.taps = static_cast<int64_t>(b_tap.size());
  gemm.a_tap = a_taps.data();
  gemm.b = split.data() + first;
  gemm.b_outer = planes.channel();
  gemm.b_tap = b_taps.data();
  gemm.c = product.data();
  gemm.ldc = flat;
  const dim3 grid(static_cast<unsigned>((flat + kTile - 1) / kTile),
                  static_cast<unsigned>((target_channels + kTile - 1) / kTile));
  const int64_t source_size = planes.channels * planes.height * planes.width;
  const int64_t target_size = target_channels * at.height * at.width;
  for (int64_t image = 0; image < batch; ++image) {
    split_phases_kernel<<<grid_for(split.size()), kThreads>>>(
        planes, planes.plane(), split.size(), source + image * source_size, split.data());
    check_launch("conv2d: split into phase planes");
    implicit_gemm_kernel<<<grid, kGemmThreads>>>(gemm);
    check_launch("conv2d: implicit GEMM");
    scatter_kernel<<<grid_for(target_channels * at.rows * at.columns), kThreads>>>(
        target_channels, at, product.data(), flat, planes.columns, target + image * target_size);
    check_launch("conv2d: scatter");
  }
  // The scratch arrays go back to the cache when this returns; the default stream orders any
  // later kernel that reuses them after these.
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

void require_supported(const cpu::Conv2dGeometry& g) {
  SALIENCY_CHECK(conv2d_supported(g),
                 "conv2d on CUDA: dilation, groups and padding of a kernel's size or more are not "
                 "implemented");
}

}  // namespace

bool conv2d_supported(const cpu::Conv2dGeometry& g) {
  return g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 && g.pad_h < g.kernel_h &&
         g.pad_w < g.kernel_w && g.out_h() > 0 && g.out_w() > 0;
}

template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  require_supported(g);
  const PhasePlanes planes{g.in_channels,
                           g.in_h,
                           g.in_w,
                           g.pad_h,
                           g.pad_w,
                           g.stride_h,
                           g.stride_w,
                           ceil_div(g.in_h + 2 * g.pad_h, g.stride_h),
                           ceil_div(g.in_w + 2 * g.pad_w, g.stride_w)};
  const int64_t taps = g.kernel_h * g.kernel_w;
  std::vector<int64_t> a_tap(taps), b_tap(taps);
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t ky = t / g.kernel_w, kx = t % g.kernel_w;
    a_tap[t] = t;  // A(out channel, in channel, tap) = weight[out][in][tap]
    b_tap[t] = planes.offset(ky % g.stride_h, kx % g.stride_w, ky / g.stride_h, kx / g.stride_w);
  }
  GemmParams<T> gemm{};
  gemm.a = weight;
  gemm.a_row = g.in_channels * taps;
  gemm.a_outer = taps;
  const Placement at{g.out_h(), g.out_w(), g.out_h(), g.out_w(), 0, 1, 0, 1};
  correlate(g.batch, gemm, a_tap, b_tap, planes, input, 0, g.out_channels, at, output);
}

template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  require_supported(g);
  // As the CPU: one stride-1 correlation of the padded output gradient per stride phase of the
  // input, with that phase's taps flipped; A(in channel, out channel, tap).
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t a = 0; a < g.stride_h; ++a) {
    for (int64_t b = 0; b < g.stride_w; ++b) {
      const int64_t first_y = ceil_div(g.pad_h - a, g.stride_h),
                    end_y = ceil_div(g.pad_h + g.in_h - a, g.stride_h);
      const int64_t first_x = ceil_div(g.pad_w - b, g.stride_w),
                    end_x = ceil_div(g.pad_w + g.in_w - b, g.stride_w);
      if (end_y <= first_y || end_x <= first_x) continue;
      const Placement at{g.in_h,
                         g.in_w,
                         end_y - first_y,
                         end_x - first_x,
                         g.stride_h * first_y + a - g.pad_h,
                         g.stride_h,
                         g.stride_w * first_x + b - g.pad_w,
                         g.stride_w};
      const int64_t taps_y = a < g.kernel_h ? ceil_div(g.kernel_h - a, g.stride_h) : 0;
      const int64_t taps_x = b < g.kernel_w ? ceil_div(g.kernel_w - b, g.stride_w) : 0;
      if (taps_y == 0 || taps_x == 0) {  // no tap reaches this phase: its gradient is zero
        for (int64_t image = 0; image < g.batch; ++image) {
          scatter_kernel<<<grid_for(g.in_channels * at.rows * at.columns), kThreads>>>(
              g.in_channels, at, static_cast<const T*>(nullptr), 0, 0,
              grad_input + image * g.in_channels * g.in_h * g.in_w);
          check_launch("conv2d backward: zero phase");
        }
        continue;
      }
      const PhasePlanes planes{g.out_channels,    g.out_h(), g.out_w(), taps_y - 1,
                               taps_x - 1,        1,         1,         end_y + taps_y - 1,
                               end_x + taps_x - 1};
      std::vector<int64_t> a_tap, b_tap;
      for (int64_t m = 0; m < taps_y; ++m)
        for (int64_t n = 0; n < taps_x; ++n) {
          a_tap.push_back((a + g.stride_h * m) * g.kernel_w + b + g.stride_w * n);
          b_tap.push_back(planes.offset(0, 0, taps_y - 1 - m, taps_x - 1 - n));
        }
      GemmParams<T> gemm{};
      gemm.a = weight;
      gemm.a_row = taps;
      gemm.a_outer = g.in_channels * taps;
      correlate(g.batch, gemm, a_tap, b_tap, planes, grad_output,
                planes.offset(0, 0, first_y, first_x), g.in_channels, at, grad_input);
    }
  }
}

template void conv2d_forward<float>(const cpu::Conv2dGeometry&, const float*, const float*, float*);
template void conv2d_forward<double>(const cpu::Conv2dGeometry&, const double*, const double*,
                                     double*);
template void conv2d_backward_input<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                           float*);
template void conv2d_backward_input<double>(const cpu::Conv2dGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
