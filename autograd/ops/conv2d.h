#pragma once
// 2-D convolution: input [N, C, H, W], weight [O, C / groups, kh, kw], optional bias [O].
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/node.h"
#include "kernels/cpu/conv2d.h"

namespace saliency {

// A pair of per-axis values (height, width); one number means both.
struct Size2 {
  int64_t h = 1, w = 1;
  Size2(int64_t both = 1) : h(both), w(both) {}  // NOLINT: implicit on purpose
  Size2(int64_t height, int64_t width) : h(height), w(width) {}
};

// A convolution's weight in the layouts the CPU kernels read in its place
// (kernels::cpu::conv2d_weight_layout: the positions-as-rows kernel's packed panels, forward and
// backward; the transpose a backward product reads), made on first use and then kept: for a layer
// whose weights no longer change (nn::Conv2d once a BatchNorm is folded into it). A recorded conv
// takes the backward's copy along. Packing such a copy on every call (at batch 1 the weights come
// from memory) had made the backward of ResNet-50's 1x1 layers 20-70% slower than their forward.
class WeightCopies {
 public:
  struct Copy {
    Tensor tensor;  // undefined for layout none
    kernels::cpu::ConvWeightLayout layout = kernels::cpu::ConvWeightLayout::none;
    template <typename T>
    kernels::cpu::ConvWeightCopy<T> view() const {
      return {layout, tensor.defined() ? tensor.data<T>() : nullptr};
    }
  };
  // `pass`'s copy of `weight` for layer `g`, made now if it was not, or was made from other
  // values (another tensor, as after the weight moved to another device and back, or this one
  // before a fill, set or copy_from: Tensor::version; the model randomization test redraws
  // weights that way), for another input size or in another layout (the algorithm chosen since).
  // Layout none where the pass reads the weight itself or the weight is not on the CPU. Writes
  // through data() are not seen: a layer keeping copies must not be changed so.
  Copy of(const Tensor& weight, const kernels::cpu::Conv2dGeometry& g, kernels::cpu::ConvPass pass);

  // A weight that backward rules compute from this layer's (LRP's W+ and the like), with copies
  // of its own: `derive(weight)` under `name`, made on first use and again whenever `weight` is
  // another tensor or has changed (as `of`'s copies are), on any device. Rules that built it per
  // pass had read and written all of ResNet-50's weights again in every explanation, and their
  // convolutions had packed its copies anew (LRP's z+ layers ran 2.2-2.7x their forward's time).
  struct Derived {
    Tensor weight;
    std::shared_ptr<WeightCopies> copies;
  };
  Derived derived(const Tensor& weight, std::string_view name,
                  const std::function<Tensor(const Tensor&)>& derive);

 private:
  struct Kept {
    Copy copy;
    kernels::cpu::Conv2dGeometry geometry;  // batch 1
    const void* source = nullptr;
    uint64_t source_version = 0;
  };
  struct KeptDerived {
    std::string name;
    const void* source = nullptr;
    uint64_t source_version = 0;
    Derived derived;
  };
  std::mutex mutex_;
  Kept kept_[2];  // per pass
  std::vector<KeptDerived> derived_;
};

struct Conv2dOptions {
  Size2 stride{1};
  Size2 padding{0};
  Size2 dilation{1};
  int64_t groups = 1;
  // Optional: where the weight's copies are kept (see WeightCopies). Only for weights changed,
  // if at all, through Tensor's fill, set or copy_from.
  std::shared_ptr<WeightCopies> weight_copies = nullptr;
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
// gradient is stored: 0 where relu_output <= 0. A weight copy (WeightCopies::of this weight, for
// the backward) is read in place of the weight where the kernel wants its layout.
Tensor conv2d_input_gradient(const Tensor& grad_output, const Tensor& weight,
                             const kernels::cpu::Conv2dGeometry& geometry,
                             const Tensor& relu_output = {}, const Tensor& addend = {},
                             const WeightCopies::Copy& weight_copy = {});

namespace autograd {

// Saves input, weight and bias (shared storage, not copies): the input gradient needs the
// weight, the weight gradient needs the input, and LRP rules need all three. A layer with a
// WeightCopies also holds its backward's copy (shared), for the input gradient.
class Conv2dNode final : public Node {
 public:
  Conv2dNode(std::vector<Edge> inputs, Tensor input, Tensor weight, Tensor bias,
             kernels::cpu::Conv2dGeometry geometry, WeightCopies::Copy weight_copy = {},
             std::shared_ptr<WeightCopies> weight_copies = nullptr)
      : Node(OpKind::Conv2d, std::move(inputs)),
        input_(std::move(input)),
        weight_(std::move(weight)),
        bias_(std::move(bias)),
        weight_copy_(std::move(weight_copy)),
        weight_copies_(std::move(weight_copies)),
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
  // Where the layer keeps its weight's copies (Conv2dOptions::weight_copies; null when it does
  // not): for rules that compute with weights derived from it (WeightCopies::derived).
  const std::shared_ptr<WeightCopies>& weight_copies() const { return weight_copies_; }

 private:
  void clear_saved() override {
    input_ = weight_ = bias_ = Tensor();
    weight_copy_ = {};
    weight_copies_ = nullptr;
  }
  Tensor input_, weight_, bias_;
  WeightCopies::Copy weight_copy_;
  std::shared_ptr<WeightCopies> weight_copies_;
  kernels::cpu::Conv2dGeometry geometry_;
};

}  // namespace autograd
}  // namespace saliency
