#pragma once
// Resizing image planes as PyTorch's F.interpolate does: "bilinear" with align_corners = false
// (no antialiasing) and "nearest" (source index floor(dst * in / out)), up or down.
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

template <typename T>
void resize_nearest_forward(const ResizeGeometry& g, const T* input, T* output);
template <typename T>
void resize_nearest_backward(const ResizeGeometry& g, const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cpu
