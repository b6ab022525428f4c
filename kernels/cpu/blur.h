#pragma once
// Separable blur of image planes with a symmetric 1-D kernel applied along rows, then columns.
// Borders reflect without repeating the edge pixel (PyTorch's "reflect" padding, as used by
// torchvision's gaussian_blur), so the kernel radius must be smaller than each side.
#include <cstdint>

namespace saliency::kernels::cpu {

struct BlurGeometry {
  int64_t planes = 1, height = 1, width = 1;
  int64_t taps = 1;  // odd kernel length
};

template <typename T>
void separable_blur_forward(const BlurGeometry& g, const T* weights, const T* input, T* output);
// The adjoint: grad_input (overwritten) for a given grad_output.
template <typename T>
void separable_blur_backward(const BlurGeometry& g, const T* weights, const T* grad_output,
                             T* grad_input);

}  // namespace saliency::kernels::cpu
