#pragma once
// Float 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray,
// 2016; interpolation points 0, +-1, +-2): each 4x4 block of outputs comes from a 6x6 input tile
// with 36 multiplies per channel pair instead of 144. Per call:
//   U[e][c][k] = (G w_kc G^T)[e]       the weights, transformed (36 points e per 3x3 kernel)
//   V[e][t][c] = (B^T d_ct B)[e]       every 6x6 input tile t (stride 4), transformed
//   M[e] = V[e] U[e]                   36 products [tiles x in] x [in x out]
//   y_kt = A^T M[.][t][k] A            back to a 4x4 output block
// Channels travel in the vectors (the source is repacked NHWC with its zero border, the result
// unpacked to NCHW as the epilogue is applied), so each transform is a few dozen vector
// operations per tile and vector of channels (16 with AVX-512, 8 with AVX2). Tiles run in blocks of
// about 96 across the batch: U[e] is then read once per block; every sum runs over the channels in
// order, so a tile's result does not depend on the block (or batch) it came in. Backward-to-input
// of a stride-1 3x3 convolution is the same computation on the output gradient, padded by 2 - pad,
// with the kernel rotated by 180 degrees and its channels swapped.
//
// The arithmetic differs from the direct sum: each output is a signed combination of 36
// products of transformed values, so its float32 error is bounded by the same sum taken over
// absolute values (|A|^T (|G| |w| |G|^T . |B|^T |d| |B|) |A|), not by sum |w| |x|; the tests
// hold it to (in_channels + 20) * 2^-24 times that, against float64. Through a whole network
// that is a few times the direct path's error: on the tiny-ResNet fixtures with
// SALIENCY_CONV=winograd, Captum's vanilla gradient, SmoothGrad and Grad-CAM are 0.6-1.8e-6
// away in relative L2 (direct: within 2e-6, PyTorch's own float32 0.5-0.6e-6), and Gauss-Legendre
// Integrated Gradients 1.3e-3 (a ReLU near its kink at one path point goes the other way; cosine
// 0.999999), which is why it is not the default. Per layer (ResNet-50's 3x3 layers, float64
// reference): 1.7-3.4e-6 relative L2, 6-12x the direct kernel's 2.8e-7. On the full ResNet-50
// (seeded weights, a photo) the vanilla gradient moves 2.9e-3 from the direct path's, the same
// order as the direct and im2col paths differ from each other (3.8e-3): a deep ReLU network's
// input gradient is that sensitive to rounding whatever the algorithm; Grad-CAM moves 8e-7.
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/gemm.h"

namespace saliency::kernels::cpu {

// 3x3 kernel, stride 1, no dilation, one group, padding 0-2 per side; builds with AVX-512 or AVX2
// (one source over kernels/cpu/simd.h: channels 16 or 8 to a vector, the same operations per lane).
bool winograd_conv2d_supports(const Conv2dGeometry& g);
// Where conv2d_forward / conv2d_backward_input use it: supported, chosen (SALIENCY_CONV=winograd
// or --conv winograd), no exact convolutions required (LRP), and at least 4 tiles in the batch:
// the weights are transformed for every call, which fewer tiles do not repay. The choice then
// depends on the batch size, so unlike the direct path, results under Winograd may differ in
// rounding between batch sizes (the kernel itself gives an image the same bits in any batch).
//
// Not safe for LRP's alpha-beta rule: there z+ = conv(x+, w+) is exactly zero wherever the
// direct sum has no positive term, but the transformed sum leaves residues of about 1e-8 that
// R / z+ then amplifies. Generic gradients, IG, SmoothGrad and the epsilon / gamma rules stay
// within their tests' tolerances.
bool winograd_conv2d_applies(const Conv2dGeometry& g);

// output[N, out_channels, out_h, out_w], then the epilogue (bias, addend: a residual, ReLU; no
// mask) as it is stored, bit for bit the separate passes' values.
void winograd_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             float* output, const RowEpilogue<float>& epilogue = {});

// grad_input[N, in_channels, in_h, in_w] (overwritten), then the epilogue (addend, ReLU mask; no
// bias or ReLU) as it is stored.
void winograd_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input,
                                    const RowEpilogue<float>& epilogue = {});

}  // namespace saliency::kernels::cpu
