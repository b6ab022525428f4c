#pragma once
// Float 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
// 2016): each 2x2 block of outputs comes from a 4x4 input tile with 16 multiplies per channel
// pair instead of 36. Per call:
//   U[e][o][c] = (G w_oc G^T)[e]        the weights, transformed (16 points e per 3x3 kernel)
//   V[e][c][t] = (B^T d_ct B)[e]        every 4x4 input tile t of every image, transformed
//   M[e] = U[e] V[e]                    16 GEMMs [out x in] x [in x tiles]
//   y_ot = A^T M[.][o][t] A             back to a 2x2 output block
// The weights are transformed once per call, the images one at a time (so that a result does
// not depend on the batch it came in). Backward-to-input of a stride-1 3x3 convolution is the
// same computation on the output gradient, padded by 2 - pad, with the kernel flipped and its
// channels swapped.
//
// The arithmetic differs from the direct sum: each output is a signed combination of 16
// products of transformed values, so its float32 error is bounded by the same sum taken over
// absolute values (|A|^T (|G| |w| |G|^T . |B|^T |d| |B|) |A|), not by sum |w| |x|; the tests
// hold it to (in_channels + 12) * 2^-24 times that, against float64, and record the error
// measured on ResNet-50's layers relative to the direct path.
#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cpu {

// 3x3 kernel, stride 1, no dilation, one group, padding 0-2 per side.
bool winograd_conv2d_supports(const Conv2dGeometry& g);
// Where conv2d_forward / conv2d_backward_input use it: supported and chosen with
// SALIENCY_CONV=winograd. Not the default, because on this project's 2-core AVX-512 machine it
// is not yet faster than the implicit direct kernel (conv2d_implicit.h): ResNet-50's stride-1
// 3x3 layers at batch 1, min of 11 alternating runs, ms direct / Winograd: 56x56x64
// 1.25 / 1.26, 28x28x128 1.26 / 1.31, 14x14x256 1.39 / 3.07, 7x7x512 1.61 / 11.2 (batch 8:
// 10.96 / 12.00, 10.74 / 10.63, 12.03 / 12.21, 13.50 / 20.08). The GEMMs take less than half
// the direct kernel's time; what is left is memory traffic: V is 4x the input, M 4x the
// output, and U (16 x out x in, rebuilt every call) dominates the small 14x14 and 7x7 maps.
// Next steps: transformed weights cached per model, F(4x4, 3x3) (2.25x data, not 4x).
//
// Not safe for LRP's alpha-beta rule: there z+ = conv(x+, w+) is exactly zero wherever the
// direct sum has no positive term, but the transformed sum leaves residues of about 1e-8 that
// R / z+ then amplifies (with SALIENCY_CONV=winograd the W^2 / alpha2-beta1 fixture is 1.9e-3
// from Zennit in relative L2, against 4e-6 on the direct path). Generic gradients, IG,
// SmoothGrad and the epsilon / gamma rules stay within their tests' tolerances.
bool winograd_conv2d_applies(const Conv2dGeometry& g);

// output[N, out_channels, out_h, out_w] without bias.
void winograd_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             float* output);

// grad_input[N, in_channels, in_h, in_w] (overwritten).
void winograd_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input);

}  // namespace saliency::kernels::cpu
