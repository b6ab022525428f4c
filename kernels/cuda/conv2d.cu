#include <algorithm>
#include <vector>

#include "kernels/cpu/conv2d_plan.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// C[m x n] = A B with k over (outer, tap) pairs, taps fastest (as the CPU's ImplicitGemm):
//   A(i, o, t) = a[i * a_row + o * a_outer + a_tap[t]],  B(o, t, j) = b[o * b_outer + b_tap[t] + j]
// The tap tables travel in the kernel's parameters (kMaxTaps, conv2d.h): no copy to the device
// and no synchronization per call.
template <typename T>
struct GemmParams {
  int64_t m, n, outers, taps;
  const T* a;
  int64_t a_row, a_outer;
  int64_t a_tap[kMaxTaps];
  const T* b;
  int64_t b_outer;
  int64_t b_tap[kMaxTaps];
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

using cpu::Correlation;
using cpu::PhasePlanes;
using cpu::Placement;

// The source image into its phase planes (kernels/cpu/conv2d_plan.h), one thread per plane
// element. (PhasePlanes' member functions are host code: the lambda reads its fields.)
template <typename T>
void split_phases(const PhasePlanes& p, const T* image, T* planes) {
  const int64_t plane = p.plane(), phases = p.stride_h * p.stride_w;
  for_each_index(
      "conv2d: split into phase planes", p.channels * p.channel(), [=] __device__(int64_t e) {
        const int64_t phase = e / plane % phases, c = e / (plane * phases);
        const int64_t y = e / p.columns % p.rows, x = e % p.columns;
        const int64_t source_y = p.stride_h * y + phase / p.stride_w - p.top;
        const int64_t source_x = p.stride_w * x + phase % p.stride_w - p.left;
        planes[e] = source_y >= 0 && source_y < p.height && source_x >= 0 && source_x < p.width
                        ? image[(c * p.height + source_y) * p.width + source_x]
                        : T(0);
      });
}

// image[c][placed (r, q)] = product[c * ldc + r * stride + q], or 0 with no product; one thread
// per placed element.
template <typename T>
void scatter(int64_t channels, const Placement& at, const T* product, int64_t ldc, int64_t stride,
             T* image) {
  for_each_index("conv2d: scatter", channels * at.rows * at.columns, [=] __device__(int64_t e) {
    const int64_t c = e / (at.rows * at.columns), r = e / at.columns % at.rows, q = e % at.columns;
    const int64_t y = at.row0 + r * at.row_step, x = at.column0 + q * at.column_step;
    image[(c * at.height + y) * at.width + x] =
        product == nullptr ? T(0) : product[c * ldc + r * stride + q];
  });
}

// Runs a planned correlation for every image of the batch: split, GEMM, scatter.
template <typename T>
void execute(int64_t batch, const Correlation& plan, const T* weight, const T* source, T* target) {
  const PhasePlanes& planes = plan.planes;
  const int64_t source_size = planes.channels * planes.height * planes.width;
  const int64_t target_size = plan.target_channels * plan.at.height * plan.at.width;
  if (plan.b_tap.empty()) {  // no tap reaches these positions
    for (int64_t image = 0; image < batch; ++image)
      scatter(plan.target_channels, plan.at, static_cast<const T*>(nullptr), 0, 0,
              target + image * target_size);
    return;
  }
  const int64_t flat = plan.flat();
  DeviceArray<T> split(planes.channels * planes.channel()), product(plan.target_channels * flat);
  GemmParams<T> gemm{};
  gemm.m = plan.target_channels;
  gemm.n = flat;
  gemm.outers = planes.channels;
  gemm.taps = static_cast<int64_t>(plan.b_tap.size());
  gemm.a = weight;
  gemm.a_row = plan.a_row;
  gemm.a_outer = plan.a_outer;
  std::copy(plan.a_tap.begin(), plan.a_tap.end(), gemm.a_tap);
  gemm.b = split.data() + plan.first;
  gemm.b_outer = planes.channel();
  std::copy(plan.b_tap.begin(), plan.b_tap.end(), gemm.b_tap);
  gemm.c = product.data();
  gemm.ldc = flat;
  const dim3 grid(static_cast<unsigned>((flat + kTile - 1) / kTile),
                  static_cast<unsigned>((plan.target_channels + kTile - 1) / kTile));
  for (int64_t image = 0; image < batch; ++image) {
    split_phases(planes, source + image * source_size, split.data());
    implicit_gemm_kernel<<<grid, kGemmThreads>>>(gemm);
    check_launch("conv2d: implicit GEMM");
    scatter(plan.target_channels, plan.at, static_cast<const T*>(product.data()), flat,
            planes.columns, target + image * target_size);
  }
  // The scratch arrays go back to the cache when this returns; the default stream orders any
  // later kernel that reuses them after these.
}

void require_supported(const cpu::Conv2dGeometry& g) {
  SALIENCY_CHECK(conv2d_supported(g), "conv2d on CUDA: dilation, groups, kernels of more than ",
                 kMaxTaps, " taps and padding of a kernel's size or more are not implemented");
}

}  // namespace

bool conv2d_supported(const cpu::Conv2dGeometry& g) {
  return g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 && g.pad_h < g.kernel_h &&
         g.pad_w < g.kernel_w && g.kernel_h * g.kernel_w <= kMaxTaps && g.out_h() > 0 &&
         g.out_w() > 0;
}

template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  require_supported(g);
  execute(g.batch, cpu::forward_correlation(g), weight, input, output);
}

template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  require_supported(g);
  for (const Correlation& plan : cpu::backward_input_correlations(g))
    execute(g.batch, plan, weight, grad_output, grad_input);
}

template void conv2d_forward<float>(const cpu::Conv2dGeometry&, const float*, const float*, float*);
template void conv2d_forward<double>(const cpu::Conv2dGeometry&, const double*, const double*,
                                     double*);
template void conv2d_backward_input<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                           float*);
template void conv2d_backward_input<double>(const cpu::Conv2dGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
