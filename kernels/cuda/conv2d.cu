#include <algorithm>
#include <cstdlib>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/indexing.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/profile.h"

namespace saliency::kernels::cuda {
namespace {

// The column matrix of one image is [C * kh * kw, out_h * out_w]: row (c, ky, kx) holds the
// input pixel that tap (ky, kx) of channel c sees from every output position (0 in the
// padding). Images go through in chunks whose columns stay under this many bytes, so a batch of
// 64 large early layers does not ask for gigabytes at once. (A budget under the L2 cache, 24 MB,
// so that the columns stay on chip between im2col and the GEMM, was measured on an H100: IG-50
// 7-9% slower, the GEMMs being smaller.)
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
  // The GEMMs' depth: rows rounded up to a multiple of 4 with zero rows (and zero weights), so
  // that every row of the weights starts on a 16-byte boundary as the tensor cores' TF32 path
  // wants: the stem's 147 = 3 x 7 x 7 ran at 20 TFLOP/s on an H100 without it.
  int64_t padded_rows() const { return (rows() + 3) / 4 * 4; }
  int64_t columns() const { return out_h * out_w; }
};

Shape shape_of(const cpu::Conv2dGeometry& g) {
  return {g.in_channels, g.in_h,     g.in_w,  g.out_h(), g.out_w(),    g.kernel_h,  g.kernel_w,
          g.stride_h,    g.stride_w, g.pad_h, g.pad_w,   g.dilation_h, g.dilation_w};
}

// The same geometry in 32-bit ints for the index arithmetic inside the kernels (64-bit division
// is emulated on the GPU, many instructions each); offsets that can pass 2^31 are taken per
// image in 64 bits.
struct Shape32 {
  int channels, in_h, in_w, out_h, out_w, kernel_h, kernel_w;
  int stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, padded_rows;
  __device__ int taps() const { return kernel_h * kernel_w; }
  __device__ int width() const { return out_h * out_w; }
};

Shape32 narrow(const Shape& s) {
  SALIENCY_CHECK(s.channels * s.in_h * s.in_w < (int64_t(1) << 31) &&
                     s.padded_rows() * s.columns() < (int64_t(1) << 31),
                 "conv2d on CUDA: one image's input or columns exceed 2^31 elements");
  return {int(s.channels), int(s.in_h),       int(s.in_w),       int(s.out_h),        int(s.out_w),
          int(s.kernel_h), int(s.kernel_w),   int(s.stride_h),   int(s.stride_w),     int(s.pad_h),
          int(s.pad_w),    int(s.dilation_h), int(s.dilation_w), int(s.padded_rows())};
}

// Where entry (image, row, pixel) of a chunk's column matrices lies: image * image_stride +
// row * row_stride + pixel. Per image, [images][rows][out_hw] (image_stride = rows * out_hw,
// row_stride = out_hw); wide, [rows][images * out_hw] (image_stride = out_hw, row_stride =
// images * out_hw), one matrix for the chunk.
struct ColumnLayout {
  int64_t image_stride, row_stride;
};

// Block (x: output pixels, y: channel, z: image); each thread writes its pixel's column entry
// in every tap row of its channel, so one division finds (oy, ox) for kh * kw entries.
template <typename T>
__global__ void im2col_kernel(Shape32 s, ColumnLayout layout, const T* input, T* columns) {
  const int pixel = blockIdx.x * blockDim.x + threadIdx.x, width = s.width();
  if (pixel >= width) return;
  const int channel = blockIdx.y, image = blockIdx.z;
  const int oy = pixel / s.out_w, ox = pixel - oy * s.out_w;
  const int y0 = oy * s.stride_h - s.pad_h, x0 = ox * s.stride_w - s.pad_w;
  const T* plane = input + (int64_t(image) * s.channels + channel) * (s.in_h * s.in_w);
  T* out = columns + image * layout.image_stride + int64_t(channel) * s.taps() * layout.row_stride +
           pixel;
  for (int ky = 0; ky < s.kernel_h; ++ky) {
    const int y = y0 + ky * s.dilation_h;
    const bool row_inside = y >= 0 && y < s.in_h;
    for (int kx = 0; kx < s.kernel_w; ++kx, out += layout.row_stride) {
      const int x = x0 + kx * s.dilation_w;
      *out = row_inside && x >= 0 && x < s.in_w ? plane[y * s.in_w + x] : T(0);
    }
  }
  if (channel == s.channels - 1)  // the zero rows that pad the depth
    for (int row = s.channels * s.taps(); row < s.padded_rows; ++row, out += layout.row_stride)
      *out = T(0);
}

// The adjoint: each input pixel sums the column entries that copied it, taps in row-major
// order (a gather: no atomics, the same result every run). Block (x: input pixels, y: channel,
// z: image). Without dilation the taps that reach pixel (y, x) are ky = (y + pad) mod stride,
// then every stride-th, each one output row up: two divisions per pixel, none per tap (the
// strided stem has 49 taps, of which 16 or fewer reach a pixel).
template <typename T, bool kDilated>
__global__ void col2im_kernel(Shape32 s, ColumnLayout layout, const T* columns, T* grad_input) {
  const int pixel = blockIdx.x * blockDim.x + threadIdx.x, plane = s.in_h * s.in_w;
  if (pixel >= plane) return;
  const int channel = blockIdx.y, image = blockIdx.z;
  const int64_t width = layout.row_stride;  // the distance from one tap's row to the next
  const int y = pixel / s.in_w, x = pixel - y * s.in_w;
  const T* taps = columns + image * layout.image_stride + int64_t(channel) * s.taps() * width;
  T sum = T(0);
  if constexpr (kDilated) {
    for (int ky = 0; ky < s.kernel_h; ++ky) {
      const int top = y + s.pad_h - ky * s.dilation_h;
      if (top < 0 || top % s.stride_h != 0 || top / s.stride_h >= s.out_h) continue;
      const T* row = taps + ky * s.kernel_w * width + top / s.stride_h * s.out_w;
      for (int kx = 0; kx < s.kernel_w; ++kx) {
        const int left = x + s.pad_w - kx * s.dilation_w;
        if (left < 0 || left % s.stride_w != 0 || left / s.stride_w >= s.out_w) continue;
        sum += row[kx * width + left / s.stride_w];
      }
    }
  } else {
    const int from_top = y + s.pad_h, from_left = x + s.pad_w;
    const int first_ky = from_top % s.stride_h, first_kx = from_left % s.stride_w;
    const int first_ox = (from_left - first_kx) / s.stride_w;
    int oy = (from_top - first_ky) / s.stride_h;
    for (int ky = first_ky; ky < s.kernel_h && oy >= 0; ky += s.stride_h, --oy) {
      if (oy >= s.out_h) continue;
      const T* row = taps + ky * s.kernel_w * width + oy * s.out_w;
      int ox = first_ox;
      for (int kx = first_kx; kx < s.kernel_w && ox >= 0; kx += s.stride_w, --ox)
        if (ox < s.out_w) sum += row[kx * width + ox];
    }
  }
  grad_input[(int64_t(image) * s.channels + channel) * plane + pixel] = sum;
}

// Columns of `images` consecutive images.
template <typename T>
void im2col(const Shape& s, ColumnLayout layout, int64_t images, const T* input, T* columns) {
  const unsigned threads = plane_threads(s.columns());
  const dim3 grid(unsigned((s.columns() + threads - 1) / threads), unsigned(s.channels),
                  unsigned(images));
  const ProfiledLaunch timed(profiling() ? concat("conv2d: im2col ", s.channels, "x", s.in_h, "x",
                                                  s.in_w, " k", s.kernel_h, " s", s.stride_h)
                                         : std::string());
  im2col_kernel<<<grid, threads>>>(narrow(s), layout, input, columns);
  check_launch("conv2d: im2col");
}

template <typename T>
void col2im(const Shape& s, ColumnLayout layout, int64_t images, const T* columns, T* grad_input) {
  const int64_t plane = s.in_h * s.in_w;
  const unsigned threads = plane_threads(plane);
  const dim3 grid(unsigned((plane + threads - 1) / threads), unsigned(s.channels),
                  unsigned(images));
  const ProfiledLaunch timed(profiling() ? concat("conv2d: col2im ", s.channels, "x", s.in_h, "x",
                                                  s.in_w, " k", s.kernel_h, " s", s.stride_h)
                                         : std::string());
  if (s.dilation_h == 1 && s.dilation_w == 1)
    col2im_kernel<T, false><<<grid, threads>>>(narrow(s), layout, columns, grad_input);
  else
    col2im_kernel<T, true><<<grid, threads>>>(narrow(s), layout, columns, grad_input);
  check_launch("conv2d: col2im");
}

// Between a wide GEMM's [O][images * out_hw] and NCHW [images][O][out_hw], one thread per
// element; to_nchw adds the bias on the way (none when bias is null).
template <typename T>
void wide_to_nchw(int64_t channels, int64_t images, int64_t width, const T* wide, const T* bias,
                  T* nchw) {
  const int c = narrow_to_int(channels, "conv2d: channels"),
            w = narrow_to_int(width, "conv2d: width");
  const int n = narrow_to_int(images, "conv2d: images");
  for_each_index("conv2d: wide to NCHW", channels * images * width, [=] __device__(auto e) {
    const auto plane = e / w;  // image * channels + channel
    const int pixel = int(e - plane * w), channel = int(plane % c), image = int(plane / c);
    const T value = wide[(int64_t(channel) * n + image) * w + pixel];
    nchw[e] = bias ? value + bias[channel] : value;
  });
}

template <typename T>
void nchw_to_wide(int64_t channels, int64_t images, int64_t width, const T* nchw, T* wide) {
  const int c = narrow_to_int(channels, "conv2d: channels"),
            w = narrow_to_int(width, "conv2d: width");
  const int n = narrow_to_int(images, "conv2d: images");
  for_each_index("conv2d: NCHW to wide", channels * images * width, [=] __device__(auto e) {
    const auto row = e / w;  // channel * images + image
    const int pixel = int(e - row * w), image = int(row % n), channel = int(row / n);
    wide[e] = nchw[(int64_t(image) * c + channel) * w + pixel];
  });
}

// Small maps go wide: a 7x7 layer's per-image GEMM is 49 columns wide, a poor fit for the
// tensor cores' tiles, while one GEMM over the chunk has 49 x images columns; the price is a
// reordering pass over the output (and, backward, over the incoming gradient). Per layer on an
// H100 at batch 50 (TF32), wide took 0.63-0.73x the time of per-image products on 14x14 and 7x7
// 3x3 layers and 0.63x on 7x7 pointwise ones, and 1.1-3x on larger maps and 14x14 pointwise
// layers (benchmarks/RESULTS.md). SALIENCY_CUDA_WIDE_PIXELS=N overrides the limit for 3x3 and
// strided layers (0: never wide).
int64_t wide_max_pixels() {
  static const int64_t limit = [] {
    const char* value = std::getenv("SALIENCY_CUDA_WIDE_PIXELS");
    return value != nullptr ? std::atoll(value) : int64_t(kWideMaxPixels);
  }();
  return limit;
}

bool wide_layout(const cpu::Conv2dGeometry& g, ConvLayout layout) {
  if (layout != ConvLayout::Auto) return layout == ConvLayout::Wide;
  // A pointwise layer pays a copy of its input into columns that a per-image product does not
  // need: it only gains on 7x7 maps.
  const int64_t limit =
      is_pointwise(g) ? std::min(wide_max_pixels(), kWidePointwiseMaxPixels) : wide_max_pixels();
  return g.out_h() * g.out_w() <= limit;
}

// Images per chunk: as many as fit the column budget (with the wide layout, its output or
// gradient reordered too), at least one.
template <typename T>
int64_t chunk_images(const cpu::Conv2dGeometry& g, bool wide) {
  const Shape s = shape_of(g);
  const int64_t per_image =
      (s.padded_rows() + (wide ? g.out_channels : 0)) * s.columns() * int64_t(sizeof(T));
  return std::clamp<int64_t>(kColumnBudgetBytes / std::max<int64_t>(per_image, 1), 1, g.batch);
}

ColumnLayout column_layout(const Shape& s, int64_t images, bool wide) {
  return wide ? ColumnLayout{s.columns(), images * s.columns()}
              : ColumnLayout{s.padded_rows() * s.columns(), s.columns()};
}

// The weights [O, rows] as [O, padded_rows] with zero columns, when the depth needs padding.
template <typename T>
DeviceArray<T> padded_weights(const Shape& s, int64_t out_channels, const T* weight) {
  const int64_t padded = s.padded_rows();
  DeviceArray<T> copy(padded == s.rows() ? 0 : out_channels * padded);
  const int rows = narrow_to_int(s.rows(), "conv2d: weight rows");
  const int padded_rows = narrow_to_int(padded, "conv2d: weight rows");
  T* out = copy.data();
  for_each_index("conv2d: padded weights", copy.size(), [=] __device__(auto e) {
    const auto o = e / padded_rows;
    const int row = int(e - o * padded_rows);
    out[e] = row < rows ? weight[o * rows + row] : T(0);
  });
  return copy;
}

// What a layer's column path needs: the weights (padded to the GEMM depth where needed), the
// images per chunk, the chunk's column buffer and, wide, a buffer for the reordered output or
// gradient.
template <typename T>
struct ColumnPass {
  ColumnPass(const cpu::Conv2dGeometry& g, const Shape& s, const T* weight, bool wide)
      : depth(s.padded_rows()),
        padded(padded_weights(s, g.out_channels, weight)),
        weights(padded.size() > 0 ? padded.data() : weight),
        chunk(chunk_images<T>(g, wide)),
        columns(chunk * depth * s.columns()),
        reordered(wide ? chunk * g.out_channels * s.columns() : 0) {}
  int64_t depth;
  DeviceArray<T> padded;
  const T* weights;
  int64_t chunk;
  DeviceArray<T> columns, reordered;
};

void require_supported(const cpu::Conv2dGeometry& g) {
  SALIENCY_CHECK(conv2d_supported(g), "conv2d on CUDA: grouped convolutions (groups = ", g.groups,
                 ") are not implemented");
}

}  // namespace

bool conv2d_supported(const cpu::Conv2dGeometry& g) {
  return g.groups == 1 && g.out_h() > 0 && g.out_w() > 0;
}

// Per image: output_i [O, out_hw] = W [O, C kh kw] columns_i [C kh kw, out_hw] (a pointwise
// layer's image is its own column matrix), then the bias. Wide: [O, images out_hw] = W columns,
// reordered to NCHW with the bias added.
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output, ConvLayout layout) {
  require_supported(g);
  const Shape s = shape_of(g);
  const int64_t rows = s.rows(), width = s.columns(), out_size = g.out_channels * width;
  const int64_t in_size = g.in_channels * g.in_h * g.in_w;
  const bool wide = wide_layout(g, layout);
  if (!wide && is_pointwise(g)) {
    gemm_batched(false, false, g.out_channels, width, rows, weight, rows, 0, input, width,
                 rows * width, output, width, out_size, g.batch);
  } else {
    const ColumnPass<T> pass(g, s, weight, wide);
    const int64_t depth = pass.depth;
    for (int64_t first = 0; first < g.batch; first += pass.chunk) {
      const int64_t images = std::min(pass.chunk, g.batch - first);
      T* columns = pass.columns.data();
      im2col(s, column_layout(s, images, wide), images, input + first * in_size, columns);
      if (!wide) {
        gemm_batched(false, false, g.out_channels, width, depth, pass.weights, depth, 0, columns,
                     width, depth * width, output + first * out_size, width, out_size, images);
        continue;
      }
      const int64_t columns_wide = images * width;
      gemm_batched(false, false, g.out_channels, columns_wide, depth, pass.weights, depth, 0,
                   columns, columns_wide, 0, pass.reordered.data(), columns_wide, 0, 1);
      wide_to_nchw(g.out_channels, images, width, static_cast<const T*>(pass.reordered.data()),
                   bias, output + first * out_size);
    }
    if (wide) return;  // the bias went in with the reordering
  }
  if (bias) add_channel_bias(g.batch * g.out_channels, g.out_channels, width, bias, output);
}

// Per image: columns_i = W^T grad_output_i, then col2im (a pointwise layer's product is the
// gradient). Wide: the chunk's gradient reordered to [O, images out_hw], one product, and col2im
// from the wide columns.
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input, ConvLayout layout) {
  require_supported(g);
  const Shape s = shape_of(g);
  const int64_t rows = s.rows(), width = s.columns(), out_size = g.out_channels * width;
  const int64_t in_size = g.in_channels * g.in_h * g.in_w;
  const bool wide = wide_layout(g, layout);
  if (!wide && is_pointwise(g)) {
    gemm_batched(true, false, rows, width, g.out_channels, weight, rows, 0, grad_output, width,
                 out_size, grad_input, width, rows * width, g.batch);
    return;
  }
  const ColumnPass<T> pass(g, s, weight, wide);
  const int64_t depth = pass.depth;
  for (int64_t first = 0; first < g.batch; first += pass.chunk) {
    const int64_t images = std::min(pass.chunk, g.batch - first);
    T* columns = pass.columns.data();
    if (wide) {
      const int64_t columns_wide = images * width;
      T* gradient = pass.reordered.data();
      nchw_to_wide(g.out_channels, images, width, grad_output + first * out_size, gradient);
      gemm_batched(true, false, depth, columns_wide, g.out_channels, pass.weights, depth, 0,
                   static_cast<const T*>(gradient), columns_wide, 0, columns, columns_wide, 0, 1);
    } else {
      gemm_batched(true, false, depth, width, g.out_channels, pass.weights, depth, 0,
                   grad_output + first * out_size, width, out_size, columns, width, depth * width,
                   images);
    }
    col2im(s, column_layout(s, images, wide), images, static_cast<const T*>(columns),
           grad_input + first * in_size);
  }
}

template <typename T>
void conv2d_backward_weight(const cpu::Conv2dGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight) {
  require_supported(g);
  const Shape s = shape_of(g);
  const int64_t width = s.columns(), out_size = g.out_channels * width, depth = s.padded_rows();
  const int64_t in_size = g.in_channels * g.in_h * g.in_w, chunk = chunk_images<T>(g, true);
  DeviceArray<T> columns(chunk * depth * width), gradient(chunk * out_size);
  DeviceArray<T> product(g.out_channels * depth), total(g.out_channels * depth);
  fill_zero(total.size(), total.data());
  for (int64_t first = 0; first < g.batch; first += chunk) {
    const int64_t images = std::min(chunk, g.batch - first), columns_wide = images * width;
    im2col(s, column_layout(s, images, true), images, input + first * in_size, columns.data());
    nchw_to_wide(g.out_channels, images, width, grad_output + first * out_size, gradient.data());
    // [O, depth] = gradient [O, images out_hw] columns^T [images out_hw, depth]
    gemm_batched(false, true, g.out_channels, depth, columns_wide,
                 static_cast<const T*>(gradient.data()), columns_wide, 0,
                 static_cast<const T*>(columns.data()), columns_wide, 0, product.data(), depth, 0,
                 1);
    binary_same_shape(cpu::BinaryOp::Add, total.size(), static_cast<const T*>(total.data()),
                      static_cast<const T*>(product.data()), total.data());
  }
  // The padded depth's extra columns dropped.
  strided_copy({g.out_channels, s.rows()}, {depth, 1}, static_cast<const T*>(total.data()),
               {s.rows(), 1}, grad_weight);
}

template <typename T>
void conv2d_backward_bias(const cpu::Conv2dGeometry& g, const T* grad_output, T* grad_bias) {
  sum_to({g.batch, g.out_channels, g.out_h() * g.out_w()}, {0, 1, 0}, g.out_channels, grad_output,
         grad_bias);
}

#define SALIENCY_INSTANTIATE_CUDA_CONV_PARAMETERS(T)                                           \
  template void conv2d_backward_weight<T>(const cpu::Conv2dGeometry&, const T*, const T*, T*); \
  template void conv2d_backward_bias<T>(const cpu::Conv2dGeometry&, const T*, T*);
SALIENCY_INSTANTIATE_CUDA_CONV_PARAMETERS(float)
SALIENCY_INSTANTIATE_CUDA_CONV_PARAMETERS(double)

template void conv2d_forward<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                    const float*, float*, ConvLayout);
template void conv2d_forward<double>(const cpu::Conv2dGeometry&, const double*, const double*,
                                     const double*, double*, ConvLayout);
template void conv2d_backward_input<float>(const cpu::Conv2dGeometry&, const float*, const float*,
                                           float*, ConvLayout);
template void conv2d_backward_input<double>(const cpu::Conv2dGeometry&, const double*,
                                            const double*, double*, ConvLayout);

}  // namespace saliency::kernels::cuda
