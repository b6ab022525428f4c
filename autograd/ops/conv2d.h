#pragma once
// 2-D convolution: input [N, C, H, W], weight [O, C / groups, kh, kw], optional bias [O].
#include <memory>
#include <mutex>

#include "autograd/node.h"
#include "kernels/cpu/conv2d.h"

namespace saliency {

// A pair of per-axis values (height, width); one number means both.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2(int64_t both = 1) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
};

// A convolution's weight transposed to [in * kh * kw, out] (kernels::cpu::transpose_conv_weight),
// made on first use and then kept: for a layer whose weights no longer change (nn::Conv2d once a
// BatchNorm is folded into it). A recorded conv takes it along for its backward to the input,
// which reads it where that backward is a product with the weight's transpose instead of packing
// the transpose again on every call (kernels::cpu::conv2d_backward_input).
class TransposedWeight {
 public:
  // The copy of `weight` for layer `g`, made now if it was not, or was made from other values:
  // another tensor (the weight moved to another device and back) or this one before a fill, set
  // or copy_from (Tensor::version: the model randomization test redraws weights that way).
  // Undefined where the layer's backward does not read one
  // (kernels::cpu::conv2d_backward_input_takes_transposed_weight) or the weight is not on the
  // CPU. Writes through data() are not seen: a layer keeping a copy must not be changed so.
  Tensor of(const Tensor& weight, const kernels::cpu::Conv2dGeometry& g);

 private:
  std::mutex mutex_;
  Tensor copy_;
  const void* source_ = nullptr;
  uint64_t source_version_ = 0;
};

struct Conv2dOptions {
  Size2 stride{1};
  Size2 padding{0};
  Size2 dilation{1};
  int64_t groups = 1;
  // Optional: where the weight's transposed copy is kept (see TransposedWeight). Only for
  // weights changed, if at all, through Tensor's fill, set or copy_from.
  std::shared_ptr<TransposedWeight> transposed_weight = nullptr;
};

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dOptions& options = {});

// relu(conv2d(...)). On the CPU the ReLU is applied as the kernel stores its output, with no
// pass of its own, and a recorded graph holds the same conv and ReLU nodes as the plain ops'
// (the conv's output is not kept: no backward needs it). Where relevance rules want every
// op's values (SaveForRulesGuard) and on CUDA it is relu(conv2d(...)). The values are the same
// either way.
Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                   const Conv2dOptions& options = {});

// relu(conv2d(...) + residual), a residual block's last conv with its shortcut, the same way:
// on the CPU the residual and ReLU are applied as the kernel stores its output (one pass of
// their own on the implicit path), recording the plain ops' conv, add and ReLU nodes.
Tensor conv2d_add_relu(const Tensor& input, const Tensor& weight, const Tensor& bias,
                       const Conv2dOptions& options, const Tensor& residual);

// The transposed convolution that maps an output gradient back to the input: what the default
// backward computes, here with any weight of the layer's shape (relevance rules use modified
// weights). Records no graph. For the engine's ReLU fusion (CPU only), an addend (the gradient
// the layer's input already received from other consumers) is added and, with a relu_output
// (the output of the ReLU the layer's input came from), the ReLU's backward applied as the
// gradient is stored: 0 where relu_output <= 0. A transposed_weight (TransposedWeight::of this
// weight) is read in place of the weight where the kernel takes one.
Tensor conv2d_input_gradient(const Tensor& grad_output, const Tensor& weight,
                             const kernels::cpu::Conv2dGeometry& geometry,
                             const Tensor& relu_output = {}, const Tensor& addend = {},
                             const Tensor& transposed_weight = {});

namespace autograd {

// Saves input, weight and bias (shared storage, not copies): the input gradient needs the
// weight, the weight gradient needs the input, and LRP rules need all three. A layer with a
// TransposedWeight also holds its copy (shared), for the input gradient.
class Conv2dNode final : public Node {
 public:
  Conv2dNode(std::vector<Edge> inputs, Tensor input, Tensor weight, Tensor bias,
             kernels::cpu::Conv2dGeometry geometry, Tensor transposed_weight = {})
      : Node(OpKind::Conv2d, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        transposed_weight_(std::move(transposed_weight)),
        geometry_(geometry) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  // default_backward followed by the backward of the ReLU whose output is this layer's input
  // (relu_output, on the CPU), fused into the input gradient's store, after adding `addend` (the
  // gradient the ReLU's output received from its other consumers, when it has any): what the
  // engine runs when this convolution is the last consumer of a ReLU (autograd/engine.h).
  TensorList backward_through_relu(const Tensor& grad_output, const InputMask& needs,
                                   const Tensor& relu_output, const Tensor& addend) const;
  const Tensor& input() const { return input_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined when the layer has none
  const kernels::cpu::Conv2dGeometry& geometry() const { return geometry_; }
  int64_t saved_bytes() const override { return bytes_of({&input_}); }
  Conv2dOptions options() const;  // stride, padding, dilation, groups as given to conv2d

 private:
  void clear_saved() override { input_ = weight_ = bias_ = transposed_weight_ = Tensor(); }
  Tensor input_, weight_, bias_, transposed_weight_;
  kernels::cpu::Conv2dGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
