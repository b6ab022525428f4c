#include <algorithm>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// The column matrix of one image is [C * kh * kw, out_h * out_w]: row (c, ky, kx) holds the
// input pixel that tap (ky, kx) of channel c sees from every output position (0 in the
// padding). Images go through in chunks whose columns stay under this many bytes, so a batch of
// 64 large early layers does not ask for gigabytes at once.
constexpr int64_t kColumnBudgetBytes = int64_t(256) << 20;

// A 1x1 convolution without stride or padding is its GEMM already: the image is its own column
// matrix.
bool is_pointwise(const cpu::Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0;
}

// Kernel-side copy of the geometry (Conv2dGeometry's member functions are host code).
struct Shape {
  int64_t channels, in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t rows() const { return channels * kernel_h * kernel_w; }
  int64_t columns() const { return out_h * out_w; }
};

Shape shape_of(const cpu::Conv2dGeometry& g) {
  return {g.in_channels, g.in_h,     g.in_w,  g.out_h(), g.out_w(),    g.kernel_h,  g.kernel_w,
          g.stride_h,    g.stride_w, g.pad_h, g.pad_w,   g.dilation_h, g.dilation_w};
}

// Columns of `images` consecutive images, one thread per column element.
template <typename T>
void im2col(const Shape& s, int64_t images, const T* input, T* columns) {
  const int64_t rows = s.rows(), width = s.columns(), per_image = rows * width;
  for_each_index("conv2d: im2col", images * per_image, [=] __device__(int64_t e) {
    const int64_t image = e / per_image, row = e / width % rows, column = e % width;
    const int64_t c = row / (s.kernel_h * s.kernel_w), tap = row % (s.kernel_h * s.kernel_w);
    const int64_t y = column / s.out_w * s.stride_h - s.pad_h + tap / s.kernel_w * s.dilation_h;
    const int64_t x = column % s.out_w * s.stride_w - s.pad_w + tap % s.kernel_w * s.dilation_w;
    columns[e] = y >= 0 && y < s.in_h && x >= 0 && x < s.in_w
                     ? input[((image * s.channels + c) * s.in_h + y) * s.in_w + x]
                     : T(0);
  });
}

// The adjoint of im2col: each input pixel sums the column entries that copied it, taps in
// row-major order, one thread per pixel (a gather: no atomics, the same result every run).
template <typename T>
void col2im(const Shape& s, int64_t images, const T* columns, T* grad_input) {
  const int64_t plane = s.in_h * s.in_w, width = s.columns(), per_image = s.rows() * width;
  for_each_index("conv2d: col2im", images * s.channels * plane, [=] __device__(int64_t e) {
    const int64_t image = e / (s.channels * plane), c = e / plane % s.channels;
    const int64_t y = e / s.in_w % s.in_h, x = e % s.in_w;
    const T* image_columns = columns + image * per_image;
    T sum = T(0);
    for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
      const int64_t top = y + s.pad_h - ky * s.dilation_h;
      if (top < 0 || top % s.stride_h != 0 || top / s.stride_h >= s.out_h) continue;
      for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
        const int64_t left = x + s.pad_w - kx * s.dilation_w;
        if (left < 0 || left % s.stride_w != 0 || left / s.stride_w >= s.out_w) continue;
        const int64_t row = (c * s.kernel_h + ky) * s.kernel_w + kx;
        sum += image_columns[row * width + top / s.stride_h * s.out_w + left / s.stride_w];
      }
    }
    grad_input[e] = sum;
  });
}

// Images per chunk: as many as fit the column budget, at least one. (Putting a chunk's images
// side by side in one wide column matrix, one GEMM instead of one per image, was measured on an
// H100: within +-20% per layer either way, the same end to end, so the simpler layout stayed.)
template <typename T>
int64_t chunk_images(const cpu::Conv2dGeometry& g) {
  const int64_t per_image = shape_of(g).rows() * shape_of(g).columns() * int64_t(sizeof(T));
  return std::clamp<int64_t>(kColumnBudgetBytes / std::max<int64_t>(per_image, 1), 1, g.batch);
}

// Calls fn(first image, images, column buffer) for each chunk of the batch.
template <typename T, typename Fn>
void for_each_chunk(const cpu::Conv2dGeometry& g, Fn fn) {
  const int64_t chunk = chunk_images<T>(g);
  DeviceArray<T> columns(chunk * shape_of(g).rows() * shape_of(g).columns());
  for (int64_t first = 0; first < g.batch; first += chunk)
    fn(first, std::min(chunk, g.batch - first), columns.data());
}

void require_supported(const cpu::Conv2dGeometry& g) {
  SALIENCY_CHECK(conv2d_supported(g), "conv2d on CUDA: grouped convolutions (groups = ", g.groups,
                 ") are not implemented");
}

}  // namespace

bool conv2d_supported(const cpu::Conv2dGeometry& g) {
  return g.groups == 1 && g.out_h() > 0 && g.out_w() > 0;
}

// output_i [O, out_hw] = W [O, C kh kw] columns_i [C kh kw, out_hw], for every image i.
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  require_supported(g);
  const Shape s = shape_of(g);
  const int64_t rows = s.rows(), width = s.columns(), out_size = g.out_channels * width;
  if (is_pointwise(g)) {
    gemm_batched(false, false, g.out_channels, width, rows, weight, rows, 0, input, width,
                 rows * width, output, width, out_size, g.batch);
    return;
  }
  const int64_t in_size = g.in_channels * g.in_h * g.in_w;
  for_each_chunk<T>(g, [&](int64_t first, int64_t images, T* columns) {
    im2col(s, images, input + first * in_size, columns);
    gemm_batched(false, false, g.out_channels, width, rows, weight, rows, 0, columns, width,
                 rows * width, output + first * out_size, width, out_size, images);
  });
}

// columns_i = W^T grad_output_i, then col2im; a pointwise layer's product is the gradient.
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input) {
  require_supported(g);
  const Shape s = shape_of(g);
  const int64_t rows = s.rows(), width = s.columns(), out_size = g.out_channels * width;
  if (is_pointwise(g)) {
    gemm_batched(true, false, rows, width, g.out_channels, weight, rows, 0, grad_output, width,
                 out_size, grad_input, width, rows * width, g.batch);
    return;
  }
  const int64_t in_size = g.in_channels * g.in_h * g.in_w;
  for_each_chunk<T>(g, [&](int64_t first, int64_t images, T* columns) {
    gemm_batched(true, false, rows, width, g.out_channels, weight, rows, 0,
                 grad_output + first * out_size, width, out_size, columns, width, rows * width,
                 images);
    col2im(s, images, static_cast<const T*>(columns), grad_input + first * in_size);
  });
}

template void conv2d_forward<float>(const cpu::Conv2dGeometry&, const float*, const float*, float*);
template void conv2d_forward<double>(const cpu::Conv2dGeometry&, const double*, const double*,
                                     double*);
template void conv2d_backward_input<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                           float*);
template void conv2d_backward_input<double>(const cpu::Conv2dGeometry&, const double*,
                                            const double*, double*);

}  // namespace saliency::kernels::cuda
