#pragma once
// Bilinear resize of image planes with align_corners = false (PyTorch's F.interpolate
// "bilinear" without antialiasing), for upsampling and downsampling alike.
#include <cstdint>

namespace saliency::kernels::cpu {

struct ResizeGeometry {
  int64_t planes = 1, in_h = 1, in_w = 1, out_h = 1, out_w = 1;
};

template <typename T>
void resize_bilinear_forward(const ResizeGeometry& g, const T* input, T* output);
// grad_input (overwritten): each output's gradient spread back onto its four source pixels.
template <typename T>
void resize_bilinear_backward(const ResizeGeometry& g, const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cpu
