#pragma once
// Max, average and adaptive average pooling over the planes of NCHW buffers. Planes are
// independent, so `planes` = N * C and the kernels never look at N or C separately.
#include <cstdint>

namespace saliency::kernels::cpu {

struct PoolGeometry {
  int64_t planes = 1, in_h = 1, in_w = 1;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
};

// Padding counts as -infinity. argmax receives the winner's index within its input plane; on
// ties the first element in row-major window order wins (PyTorch's convention).
template <typename T>
void max_pool2d_forward(const PoolGeometry& g, const T* input, T* output, int32_t* argmax);
// grad_input (overwritten) receives each output's gradient at its winner.
template <typename T>
void max_pool2d_backward(const PoolGeometry& g, const T* grad_output, const int32_t* argmax,
                         T* grad_input);

// The pair ReLU then max pooling without the ReLU's pass over the larger map: the forward reads
// each input as max(0, x) (NaN -> 0), giving max_pool2d_forward's outputs and winners on the
// ReLU's output; the backward adds a winner's gradient only where relu_passed (the ReLU's input
// or output, laid out as the pooling's input) is > 0, max_pool2d_backward then relu_backward
// bit for bit (every gradient reaching one element has the same winner, so the same mask).
template <typename T>
void max_pool2d_forward_of_relu(const PoolGeometry& g, const T* input, T* output, int32_t* argmax);
template <typename T>
void max_pool2d_backward_through_relu(const PoolGeometry& g, const T* grad_output,
                                      const int32_t* argmax, const T* relu_passed, T* grad_input);

// count_include_pad: divide by the window size including padding (PyTorch's default) or only
// by the number of real input elements under the window.
template <typename T>
void avg_pool2d_forward(const PoolGeometry& g, bool count_include_pad, const T* input, T* output);
template <typename T>
void avg_pool2d_backward(const PoolGeometry& g, bool count_include_pad, const T* grad_output,
                         T* grad_input);

// Output cell i covers input rows [floor(i * H / out_h), ceil((i + 1) * H / out_h)).
template <typename T>
void adaptive_avg_pool2d_forward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                 int64_t out_w, const T* input, T* output);
template <typename T>
void adaptive_avg_pool2d_backward(int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                                  int64_t out_w, const T* grad_output, T* grad_input);

}  // namespace saliency::kernels::cpu
