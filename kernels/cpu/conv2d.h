#pragma once
// 2-D convolution (cross-correlation, as in PyTorch) on NCHW buffers. Weights are
// [out_channels, in_channels / groups, kernel_h, kernel_w]. Forward and backward-to-input run
// as an implicit GEMM where that applies (float, stride 1: conv2d_implicit.h), else im2col +
// GEMM; a 1x1, stride-1, unpadded convolution skips im2col and is a plain GEMM on the input.
#include <cstdint>

namespace saliency::kernels::cpu {

struct Conv2dGeometry {
  int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  int64_t out_h() const {
    return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  int64_t out_w() const {
    return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
  int64_t in_channels_per_group() const { return in_channels / groups; }
  int64_t out_channels_per_group() const { return out_channels / groups; }
  // Rows of the im2col matrix for one group: the GEMM's inner dimension.
  int64_t patch_size() const { return in_channels_per_group() * kernel_h * kernel_w; }
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 &&
           pad_w == 0;
  }
  // Multiply-adds of one forward pass times two.
  double forward_flops() const {
    return 2.0 * batch * out_channels * out_h() * out_w() * patch_size();
  }
};

// How convolutions are computed, process-wide:
//   direct (the default): each layer's direct kernel (conv2d_implicit.h, the pointwise GEMM, or
//     im2col), whose results match PyTorch's within the float32 floor the fixture tests hold;
//   im2col: the reference path everywhere, for side-by-side runs;
//   winograd: Winograd F(4x4, 3x3) (conv2d_winograd.h) for the 3x3 stride-1 layers where it is
//     faster, the direct kernels elsewhere. Its float32 error is larger: 1.7-3.4e-6 relative
//     L2 per ResNet-50 layer against the direct kernel's 2.8e-7 (see the header).
// Read once from $SALIENCY_CONV ("im2col", "winograd"; anything else: direct);
// set_conv_algorithm overrides it (the CLI's --conv).
enum class ConvAlgorithmChoice { direct, im2col, winograd };
ConvAlgorithmChoice requested_conv_algorithm();
void set_conv_algorithm(ConvAlgorithmChoice choice);

// Per thread: while set, convolutions take a direct path whatever was chosen. LRP's rules need
// it (autograd::SaveForRulesGuard sets it): their positive-part convolutions must give exact
// zeros, which a transformed sum does not.
bool exact_convolutions_required();
void set_exact_convolutions_required(bool required);

// What the forward does to each output after its bias: nothing, or a ReLU (max(0, x), NaN -> 0,
// as relu_forward), so that conv + ReLU under inference costs no pass over the output of its own.
// The values are those of conv2d_forward followed by relu_forward, bit for bit.
enum class ConvActivation { none, relu };

// The passes a layer's weight copy is made for, and the copies' layouts: none (the pass reads the
// weight as it is), transposed (transpose_conv_weight: a product with the weight's transpose) or
// position_rows (pack_position_rows_weight, conv2d_implicit.h).
enum class ConvPass { forward, backward_input };
enum class ConvWeightLayout { none, transposed, position_rows };
// A copy of the weight and its layout; a pass reads it only where it wants that layout now.
template <typename T>
struct ConvWeightCopy {
  ConvWeightLayout layout = ConvWeightLayout::none;
  const T* data = nullptr;
};

// output[N, out_channels, out_h, out_w]; bias may be null. A residual (shaped as the output: a
// residual block's shortcut) is added after the bias, before the activation: bit for bit the
// forward, an add and relu_forward, with no pass of their own except on grouped layers (and the
// residual on the implicit path).
template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output, ConvActivation activation = ConvActivation::none,
                    const T* residual = nullptr, ConvWeightCopy<T> weight_copy = {});

// grad_input[N, in_channels, in_h, in_w] = d output / d input applied to grad_output. Two
// optional steps run as every path but grouped pointwise layers stores it (those take passes of
// their own), for the engine's ReLU fusion (autograd/engine.h): an addend (shaped as grad_input:
// the gradient the layer's input already received from its other consumers) is added, then, with a
// relu_output (the output of the ReLU the layer's input came from), the ReLU's backward: 0
// wherever relu_output is not > 0. Bit for bit the plain result, an add and relu_backward.
//
// Where the backward is a product with the weight's transpose (conv2d_weight_layout: transposed),
// a transposed copy of the weight (transpose_conv_weight) may be given: it is then read in place,
// as the forward reads the weight, instead of packed from the weight on every call. At batch 1,
// where the weights come from memory, that packing made the backward of ResNet-50's 1x1 layers
// 20-70% slower than the forward of the same product. The sums are the same except in a product's
// tail columns (1-4 past its 48-column panels: a 7 x 7 map's 49th), which are summed along k in an
// order that depends on the operand's orientation (gemm_packed.h): there the two may differ in the
// last bits.
template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input, const T* relu_output = nullptr, const T* addend = nullptr,
                           ConvWeightCopy<T> weight_copy = {});

// The layout of the weight copy that `pass` of layer g reads when given one: position_rows for
// float layers the positions-as-rows kernel takes (conv2d_implicit.h: given the copy, it runs in
// place of the flat tiles or im2col), transposed for a backward that is a product with the
// weight's transpose (1x1 layers and those on im2col, without groups), none otherwise (Winograd,
// the flat tiles without a copy). It follows the algorithm chosen now (set_conv_algorithm,
// exact_convolutions_required): a copy made for another layout is not read.
template <typename T>
ConvWeightLayout conv2d_weight_layout(const Conv2dGeometry& g, ConvPass pass);
// Floats of that copy (0 for none) and the copy itself.
template <typename T>
int64_t conv2d_weight_copy_size(const Conv2dGeometry& g, ConvPass pass);
template <typename T>
void make_conv2d_weight_copy(const Conv2dGeometry& g, ConvPass pass, const T* weight, T* copy);

// transposed[in_channels * kernel_h * kernel_w, out_channels] = the weight [out_channels,
// in_channels * kernel_h * kernel_w] transposed (groups 1): the copy conv2d_backward_input reads.
template <typename T>
void transpose_conv_weight(const Conv2dGeometry& g, const T* weight, T* transposed);

// The im2col + GEMM algorithm, for every geometry and type: what conv2d_forward and
// conv2d_backward_input run where the implicit-GEMM path (conv2d_implicit.h) does not apply,
// and the reference that path is tested against.
template <typename T>
void im2col_conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, T* output);
template <typename T>
void im2col_conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                                  T* grad_input);

// grad_weight (overwritten) summed over the batch.
template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight);

// grad_bias[out_channels] (overwritten): grad_output summed over batch and space.
template <typename T>
void conv2d_backward_bias(const Conv2dGeometry& g, const T* grad_output, T* grad_bias);

}  // namespace saliency::kernels::cpu
