#pragma once
// Float convolution as an implicit GEMM on AVX-512 or AVX2 (both kernels: the flat tiles and
// positions as rows below): no im2col matrix and no col2im.
//
// The input is copied once into a zero-padded plane per channel. In that plane's row-major
// (flat) order, output position (y, x) sits at j = y * padded_width + x, and the input value
// that kernel tap (ky, kx) multiplies sits at j + ky * padded_width + kx: every tap is the
// same contiguous run of the plane shifted by a constant. So the GEMM's right-hand matrix is
// read straight from the padded planes (row (channel, tap) = plane + tap offset) and the
// weights straight from their [out, in, kh, kw] layout, both without packing. The flat
// positions x >= out_w of each row are computed and thrown away (1 of every out_w + 1 for a
// 3x3 layer padded by 1: neighbouring rows share their zero columns, conv2d_plan.h), which
// costs less than building the 9x larger im2col matrix.
//
// Backward-to-input of a stride-1 convolution is the same computation on the padded output
// gradient with the kernel flipped and its in/out channels swapped, so it runs on the same
// micro-kernel instead of a transposed GEMM plus a scattered col2im.
//
// The im2col + GEMM path in conv2d.cpp is the reference this one is tested against; its
// summation order differs (tolerance in tests/ops/test_conv2d.cpp). Results do not depend on
// the thread count: every output element is summed in the same order however the tiles are
// shared out.
#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cpu {

// Geometries the implicit path computes: AVX-512 or AVX2 build, no dilation, one group, a kernel
// larger than 1x1, padding at most kernel - 1 per side. Strided layers are split by phase
// (conv2d_plan.h, shared with the CUDA kernels): each stride phase of the input is its own plane,
// in which every tap is a contiguous run again; backward-to-input runs one stride-1 correlation per
// phase of the input gradient.
bool implicit_conv2d_supports(const Conv2dGeometry& g);

// Where conv2d_forward / conv2d_backward_input use it: supported, stride 1 (or an image stem,
// below), and not switched off with SALIENCY_CONV=im2col (for side-by-side benchmarks). Measured on
// ResNet-50's layers (2 threads, min of 15-21 alternating runs, GFLOP/s implicit vs im2col +
// Eigen): stride-1 3x3 forward 138-177 vs 125-150, backward 105-169 vs 105-154. The 3x3/2 layers
// ran about even forward and slower backward (102-114 vs 118-128: four phases of 1-4 taps each);
// the 7x7/2 stem's forward was faster (133-141 vs 101-107) but its backward far slower (39-41 vs
// 83-86), and the stem is 3% of the network's FLOPs, so strided layers stayed on im2col. Since the
// packed GEMM and on a Zen 5 host (2026-11-27, bench_conv2d, min of 6 alternating rounds,
// implicit vs im2col): the stem's forward 0.571 vs 0.730 ms at batch 1, 5.11 vs 6.10 ms at batch
// 8 (its columns matrix, 147 x 12544 floats an image, costs more than the kernel saves), the
// 3x3/2 forward 0.608 vs 0.568 and 4.87 vs 4.61 ms: so the forward of a strided layer with at
// most 4 input channels (an image stem) takes the implicit path, other strided ones do not. The
// stem's backward (1.7-2.7 vs 1.2-1.3 ms at batch 1) joined it once its four phases shared one
// copy of the output gradient (half its time had gone to copying it per phase) and its three
// target channels got tiles of their own (3 x 128 instead of 3 of a tile's 8 rows x 48):
// 2026-12-06, bench_conv2d, medians of 3 in 3 interleaved rounds, implicit vs im2col: 0.761-0.771
// vs 0.834-0.840 ms at batch 1, 6.35-6.47 vs 7.70-7.72 ms at batch 8. Pointwise (1x1)
// layers stay on the GEMM path: they need no im2col, and Eigen's packed kernel stayed 5-20%
// ahead of this one on most of ResNet-50's 1x1 shapes even with its k loop flattened, B packed
// per tile column, or k slices of 64-512 (the GEMM path now runs our own packed kernel,
// gemm_packed.h, faster again). Output maps of fewer than 64 positions (ResNet's 7 x 7) go to
// im2col too: this kernel's flat rows span the padding (63 columns, in 64 lanes, for 49
// positions), where the packed GEMM fills its lanes (panels straddle a batch's images; a single
// image's 49th column is a dot product). layer4's 3x3 (bench_conv2d, min of 3 interleaved,
// implicit vs im2col, ms): forward 0.724 vs 0.592 at batch 1, 5.84 vs 4.92 at batch 8; backward
// 0.87-1.08 vs 0.89-1.03 at batch 1, 6.86 vs 5.62 at batch 8. (14 x 14 maps: even at batch 8,
// 3-9% slower on im2col at batch 1.)
bool implicit_conv2d_applies(const Conv2dGeometry& g);

// output[N, out_channels, out_h, out_w]; bias (per output channel) may be null. The bias, and
// the ReLU when `relu` is set, are applied as the last k slice is stored, not in passes of their
// own over the output.
void implicit_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             const float* bias, float* output, bool relu = false);

// grad_input[N, in_channels, in_h, in_w] (overwritten); an addend of that shape added, then with
// a relu_mask of that shape 0 wherever the mask is not > 0 (see conv2d_backward_input), as the
// result is copied out.
void implicit_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input,
                                    const float* relu_mask = nullptr,
                                    const float* addend = nullptr);

// Positions as rows: the same correlations with output positions as the tiles' rows (seven of
// one output row, each input value broadcast; four with AVX2) and 64 target channels along their
// vectors (24 with AVX2; the weights, packed once per layer). No thrown-away columns or lanes on 14 x 14 and 7 x 7 maps, and
// a strided layer's phases read in place (no im2col). Where the weight's packed copy is given
// (conv2d_forward's and conv2d_backward_input's weight copy, ConvWeightLayout::position_rows),
// conv2d.cpp runs this for the layers the flat tiles support whose pass has at least 32 target
// channels (output channels forward, input channels backward) in rows of at most 16 positions
// (a stride phase's rows, backward). bench_conv2d, ResNet-50's 3x3 layers, min of 3 interleaved
// rounds, ms, flat tiles or im2col -> positions as rows, at batch 1 with weights from memory /
// batch 8 with cached ones: layer3's 3x3 (14 x 14) forward 0.527 -> 0.514 / 4.11 -> 3.80,
// backward 0.539 -> 0.500 / 4.10 -> 3.80; layer4's (7 x 7) 0.565 -> 0.519 / 4.57 -> 3.78 and
// 0.570 -> 0.521 / 4.11 -> 3.74; layer3's 3x3/2 -1 to -3%; layer4's 3x3/2 forward at batch 8
// 4.65 -> 4.35, the rest within 1%. Wider rows lose: layer1's 3x3 (56 x 56) 2-9% slower,
// layer2's (28 x 28) 2-4% slower or even, layer2's 3x3/2 even (its backward's phases are 28 wide).
// In AVX2 builds (4 x 24 tiles) the same, except a strided layer's backward, which stays on
// im2col there, and stride-1 layers, which take positions as rows up to rows of 56 (layer1's and
// layer2's 3x3 4-13% faster than on the flat tiles): layer3's and layer4's 3x3 1.2-1.6x faster
// than the flat tiles or im2col on a Zen 3, their 3x3/2 forward 5-22% faster, backward 1-17%
// slower (conv2d_implicit.cpp).
bool position_rows_conv2d_applies(const Conv2dGeometry& g, ConvPass pass);
// Floats of the packed copy and the copy itself: per correlation (conv2d_plan.h) and per panel of
// 64 target channels (24 with AVX2), [source channel][tap][64 targets], zero past the last
// target.
int64_t position_rows_weight_size(const Conv2dGeometry& g, ConvPass pass);
void pack_position_rows_weight(const Conv2dGeometry& g, ConvPass pass, const float* weight,
                               float* packed);
// As implicit_conv2d_forward / implicit_conv2d_backward_input, reading the packed weight.
void position_rows_conv2d_forward(const Conv2dGeometry& g, const float* input,
                                  const float* packed_weight, const float* bias, float* output,
                                  bool relu = false);
void position_rows_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                         const float* packed_weight, float* grad_input,
                                         const float* relu_mask = nullptr,
                                         const float* addend = nullptr);

}  // namespace saliency::kernels::cpu
