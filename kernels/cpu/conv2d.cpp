#include "kernels/cpu/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "kernels/cpu/conv2d_implicit.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

// The output columns x whose input column x * stride + offset lies inside [0, width).
struct ValidRange {
  int64_t begin, end;
};
ValidRange valid_columns(int64_t offset, int64_t stride, int64_t width, int64_t out_w) {
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const int64_t begin = std::clamp<int64_t>(ceil_div(-offset, stride), 0, out_w);
  const int64_t end = std::clamp<int64_t>(ceil_div(width - offset, stride), begin, out_w);
  return {begin, end};
}

// Unfolds one group of one image, [Cg, H, W], into columns [Cg * kh * kw, out_h * out_w].
template <typename T>
void im2col(const Conv2dGeometry& g, const T* image, T* columns) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), plane = g.in_h * g.in_w;
  const int64_t taps = g.kernel_h * g.kernel_w;
  parallel_for(0, g.patch_size(), grain_for(out_h * out_w), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t channel = row / taps, ki = (row / g.kernel_w) % g.kernel_h,
                    kj = row % g.kernel_w;
      const T* source = image + channel * plane;
      T* destination = columns + row * out_h * out_w;
      const int64_t column_offset = kj * g.dilation_w - g.pad_w;
      const ValidRange valid = valid_columns(column_offset, g.stride_w, g.in_w, out_w);
      for (int64_t y = 0; y < out_h; ++y) {
        T* out_row = destination + y * out_w;
        const int64_t iy = y * g.stride_h - g.pad_h + ki * g.dilation_h;
        if (iy < 0 || iy >= g.in_h) {
          std::fill_n(out_row, out_w, T(0));
          continue;
        }
        const T* in_row = source + iy * g.in_w;
        std::fill(out_row, out_row + valid.begin, T(0));
        for (int64_t x = valid.begin; x < valid.end; ++x)
          out_row[x] = in_row[x * g.stride_w + column_offset];
        std::fill(out_row + valid.end, out_row + out_w, T(0));
      }
    }
  });
}

// The adjoint of im2col: adds columns back into the image planes they were read from. Tasks
// own disjoint bands of input rows of one channel (a layer with few input channels, like the
// 3-channel stem, is cut into row bands so that both cores work); within a band the taps and
// output rows are visited in the same order whatever the banding, so sums are bit-identical.
template <typename T>
void col2im_add(const Conv2dGeometry& g, const T* columns, T* image) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), plane = g.in_h * g.in_w;
  const int64_t channels = g.in_channels_per_group();
  constexpr int64_t kMinTasks = 16;
  const int64_t bands = std::clamp<int64_t>((kMinTasks + channels - 1) / channels, 1, g.in_h);
  auto add_band = [&](int64_t task) {
    const int64_t channel = task / bands, band = task % bands;
    const int64_t row_begin = g.in_h * band / bands, row_end = g.in_h * (band + 1) / bands;
    T* target = image + channel * plane;
    for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const int64_t row = (channel * g.kernel_h + ki) * g.kernel_w + kj;
        const T* source = columns + row * out_h * out_w;
        const int64_t column_offset = kj * g.dilation_w - g.pad_w;
        const ValidRange valid = valid_columns(column_offset, g.stride_w, g.in_w, out_w);
        for (int64_t y = 0; y < out_h; ++y) {
          const int64_t iy = y * g.stride_h - g.pad_h + ki * g.dilation_h;
          if (iy < row_begin || iy >= row_end) continue;
          T* in_row = target + iy * g.in_w;
          const T* col_row = source + y * out_w;
          for (int64_t x = valid.begin; x < valid.end; ++x)
            in_row[x * g.stride_w + column_offset] += col_row[x];
        }
      }
    }
  };
  if (g.patch_size() * out_h * out_w < (1 << 15)) {  // too small to wake a second thread
    for (int64_t task = 0; task < channels * bands; ++task) add_band(task);
    return;
  }
  parallel_tasks(channels * bands, add_band);
}

// Offsets of one (image, group) block in the input, output and weight buffers.
struct GroupBlock {
  int64_t input, output, weight;
};
GroupBlock block_offsets(const Conv2dGeometry& g, int64_t image, int64_t group) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  return {(image * g.in_channels + group * g.in_channels_per_group()) * in_plane,
          (image * g.out_channels + group * g.out_channels_per_group()) * out_plane,
          group * g.out_channels_per_group() * g.patch_size()};
}

// Calls fn(offsets, image, columns) for every (image, group) block, with columns = the block's
// im2col matrix [patch, out_plane]; a pointwise convolution's input already is that matrix.
template <typename T, typename Fn>
void for_each_unfolded_block(const Conv2dGeometry& g, const T* input, Fn fn) {
  const bool pointwise = g.is_pointwise();
  Scratch<T> columns(pointwise ? 0 : g.patch_size() * g.out_h() * g.out_w());
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const GroupBlock at = block_offsets(g, image, group);
      if (pointwise) {
        fn(at, image, input + at.input);
      } else {
        im2col(g, input + at.input, columns.data());
        fn(at, image, static_cast<const T*>(columns.data()));
      }
    }
  }
}

// The bias, the residual (when given) and the activation as one pass over the output.
template <typename T>
void finish_output(const Conv2dGeometry& g, const T* bias, const T* residual,
                   ConvActivation activation, T* output) {
  if (bias == nullptr && residual == nullptr && activation == ConvActivation::none) return;
  const int64_t out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.batch * g.out_channels, grain_for(out_plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      T* plane = output + p * out_plane;
      if (bias != nullptr) {
        const T b = bias[p % g.out_channels];
        for (int64_t i = 0; i < out_plane; ++i) plane[i] += b;
      }
      if (residual != nullptr)
        for (int64_t i = 0; i < out_plane; ++i) plane[i] = plane[i] + residual[p * out_plane + i];
      if (activation == ConvActivation::relu)
        for (int64_t i = 0; i < out_plane; ++i) plane[i] = plane[i] > T(0) ? plane[i] : T(0);
    }
  });
}

// A pointwise convolution without groups is one batched product whose columns are the images'
// positions: forward, C_i [out, plane] = W [out, in] X_i [in, plane]; backward to the input,
// C_i [in, plane] = W^T G_i [out, plane]. The epilogue (bias and ReLU forward, a ReLU's backward)
// is applied as C is stored.
template <typename T>
void pointwise_conv2d(const Conv2dGeometry& g, bool backward, const T* weight, const T* source,
                      RowEpilogue<T> epilogue, T* target) {
  const int64_t plane = g.out_h() * g.out_w();
  const int64_t rows = backward ? g.in_channels : g.out_channels;
  const int64_t depth = backward ? g.out_channels : g.in_channels;
  parallel_gemm_batched<T>({.transpose_a = backward,
                            .m = rows,
                            .n = plane,
                            .k = depth,
                            .lda = g.in_channels,
                            .ldb = plane,
                            .ldc = plane},
                           {g.batch, depth * plane, rows * plane}, T(1), weight, source, T(0),
                           target, epilogue);
}

// Without groups, the columns of several images come from one batched product: the transposed
// weights are then packed once per group of images rather than once per image (a strided layer's
// W^T is up to 9 MB). Groups hold as many images' columns as fit kColumnsBudget.
template <typename T>
void im2col_backward_input_by_image_groups(const Conv2dGeometry& g, const GemmArgs& product,
                                           const T* grad_output, const T* weight, T* grad_input) {
  constexpr int64_t kColumnsBudget = int64_t(16) << 20;  // bytes
  const int64_t out_plane = g.out_h() * g.out_w(), per_image = g.patch_size() * out_plane;
  const int64_t in_image = g.in_channels * g.in_h * g.in_w;
  const int64_t group =
      std::clamp<int64_t>(kColumnsBudget / int64_t(sizeof(T) * per_image), 1, g.batch);
  Scratch<T> columns(group * per_image);
  for (int64_t first = 0; first < g.batch; first += group) {
    const int64_t images = std::min(group, g.batch - first);
    parallel_gemm_batched(product, {images, g.out_channels * out_plane, per_image}, T(1), weight,
                          grad_output + first * g.out_channels * out_plane, T(0), columns.data());
    for (int64_t i = 0; i < images; ++i) {
      T* image = grad_input + (first + i) * in_image;
      std::fill_n(image, in_image, T(0));
      col2im_add(g, columns.data() + i * per_image, image);
    }
  }
}

}  // namespace

namespace {

std::atomic<ConvAlgorithmChoice>& conv_algorithm() {
  static std::atomic<ConvAlgorithmChoice> choice = [] {
    const char* name = std::getenv("SALIENCY_CONV");
    const std::string_view value = name == nullptr ? "" : name;
    if (value == "im2col") return ConvAlgorithmChoice::im2col;
    if (value == "winograd") return ConvAlgorithmChoice::winograd;
    return ConvAlgorithmChoice::direct;
  }();
  return choice;
}

thread_local bool exact_convolutions = false;

}  // namespace

ConvAlgorithmChoice requested_conv_algorithm() {
  return conv_algorithm().load(std::memory_order_relaxed);
}

void set_conv_algorithm(ConvAlgorithmChoice choice) {
  conv_algorithm().store(choice, std::memory_order_relaxed);
}

bool exact_convolutions_required() {
  return exact_convolutions;
}

void set_exact_convolutions_required(bool required) {
  exact_convolutions = required;
}

template <typename T>
void im2col_conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  // output_g [Cout_g, out_plane] = W_g [Cout_g, patch] * columns [patch, out_plane]
  const GemmArgs product{.m = g.out_channels_per_group(),
                         .n = out_plane,
                         .k = patch,
                         .lda = patch,
                         .ldb = out_plane,
                         .ldc = out_plane};
  if (g.is_pointwise() && g.groups == 1) {
    pointwise_conv2d<T>(g, /*backward=*/false, weight, input, {}, output);
    return;
  }
  for_each_unfolded_block(g, input, [&](const GroupBlock& at, int64_t, const T* columns) {
    parallel_gemm(product, T(1), weight + at.weight, columns, T(0), output + at.output);
  });
}

// The bias and activation cost no pass of their own on the implicit and pointwise paths (applied
// as the last k slice is stored); elsewhere they share one.
template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output, ConvActivation activation, const T* residual) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv2d_applies(g)) {
      winograd_conv2d_forward(
          g, input, weight, output,
          {.bias = bias, .relu = activation == ConvActivation::relu, .addend = residual});
      return;
    }
    if (implicit_conv2d_applies(g, ConvPass::forward)) {
      // The kernel stores bias and ReLU itself; a residual comes between them, so then the
      // residual and the ReLU follow in a pass of their own.
      if (residual == nullptr) {
        implicit_conv2d_forward(g, input, weight, bias, output, activation == ConvActivation::relu);
      } else {
        implicit_conv2d_forward(g, input, weight, bias, output, false);
        finish_output<T>(g, nullptr, residual, activation, output);
      }
      return;
    }
  }
  if (g.is_pointwise() && g.groups == 1) {
    pointwise_conv2d<T>(
        g, /*backward=*/false, weight, input,
        {.bias = bias, .relu = activation == ConvActivation::relu, .addend = residual}, output);
    return;
  }
  im2col_conv2d_forward(g, input, weight, output);
  finish_output(g, bias, residual, activation, output);
}

// The addend and the ReLU's backward as passes of their own, where the path could not fuse them.
template <typename T>
void finish_input_gradient(const Conv2dGeometry& g, const T* relu_output, const T* addend,
                           T* grad_input) {
  const int64_t count = g.batch * g.in_channels * g.in_h * g.in_w;
  if (addend != nullptr)
    parallel_for(0, count, grain_for(1), [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) grad_input[i] = grad_input[i] + addend[i];
    });
  if (relu_output != nullptr) relu_backward(count, grad_input, relu_output, grad_input);
}

template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input, const T* relu_output, const T* addend) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv2d_applies(g)) {
      winograd_conv2d_backward_input(g, grad_output, weight, grad_input,
                                     {.relu_mask = relu_output, .addend = addend});
      return;
    }
    if (implicit_conv2d_applies(g, ConvPass::backward_input)) {
      implicit_conv2d_backward_input(g, grad_output, weight, grad_input, relu_output, addend);
      return;
    }
  }
  if (g.is_pointwise() && g.groups == 1) {
    pointwise_conv2d<T>(g, /*backward=*/true, weight, grad_output,
                        {.relu_mask = relu_output, .addend = addend}, grad_input);
    return;
  }
  im2col_conv2d_backward_input(g, grad_output, weight, grad_input);
  finish_input_gradient(g, relu_output, addend, grad_input);
}

template <typename T>
void im2col_conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                                  T* grad_input) {
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  const int64_t in_block = g.in_channels_per_group() * g.in_h * g.in_w;
  const bool pointwise = g.is_pointwise();
  // columns[patch, out_plane] = W_g^T [patch, Cout_g] * grad_output_g [Cout_g, out_plane]
  const GemmArgs product{.transpose_a = true,
                         .m = patch,
                         .n = out_plane,
                         .k = g.out_channels_per_group(),
                         .lda = patch,
                         .ldb = out_plane,
                         .ldc = out_plane};
  if (pointwise && g.groups == 1) {
    pointwise_conv2d<T>(g, /*backward=*/true, weight, grad_output, {}, grad_input);
    return;
  }
  if (g.groups == 1) {
    im2col_backward_input_by_image_groups(g, product, grad_output, weight, grad_input);
    return;
  }
  Scratch<T> columns(pointwise ? 0 : patch * out_plane);
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const GroupBlock at = block_offsets(g, image, group);
      if (pointwise) {
        parallel_gemm(product, T(1), weight + at.weight, grad_output + at.output, T(0),
                      grad_input + at.input);
        continue;
      }
      parallel_gemm(product, T(1), weight + at.weight, grad_output + at.output, T(0),
                    columns.data());
      std::fill_n(grad_input + at.input, in_block, T(0));
      col2im_add(g, columns.data(), grad_input + at.input);
    }
  }
}

template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight) {
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  // dW_g [Cout_g, patch] += grad_output_g [Cout_g, out_plane] * columns^T [out_plane, patch]
  const GemmArgs product{.transpose_b = true,
                         .m = g.out_channels_per_group(),
                         .n = patch,
                         .k = out_plane,
                         .lda = out_plane,
                         .ldb = out_plane,
                         .ldc = patch};
  for_each_unfolded_block(g, input, [&](const GroupBlock& at, int64_t image, const T* columns) {
    parallel_gemm(product, T(1), grad_output + at.output, columns, image == 0 ? T(0) : T(1),
                  grad_weight + at.weight);
  });
}

template <typename T>
void conv2d_backward_bias(const Conv2dGeometry& g, const T* grad_output, T* grad_bias) {
  const int64_t out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.out_channels, grain_for(g.batch * out_plane), [&](int64_t lo, int64_t hi) {
    for (int64_t channel = lo; channel < hi; ++channel) {
      T total = 0;
      for (int64_t image = 0; image < g.batch; ++image) {
        const T* plane = grad_output + (image * g.out_channels + channel) * out_plane;
        for (int64_t i = 0; i < out_plane; ++i) total += plane[i];
      }
      grad_bias[channel] = total;
    }
  });
}

#define SALIENCY_INSTANTIATE_CONV2D(T)                                                            \
  template void im2col_conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, T*);          \
  template void im2col_conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*);   \
  template void conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*,        \
                                  ConvActivation, const T*);                                      \
  template void conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*, const T*, \
                                         const T*);                                               \
  template void conv2d_backward_weight<T>(const Conv2dGeometry&, const T*, const T*, T*);         \
  template void conv2d_backward_bias<T>(const Conv2dGeometry&, const T*, T*);
SALIENCY_INSTANTIATE_CONV2D(float)
SALIENCY_INSTANTIATE_CONV2D(double)

}  // namespace saliency::kernels::cpu
