#pragma once
// Pooling over the spatial dimensions of NCHW input.
#include <memory>

#include "autograd/node.h"
#include "autograd/ops/conv2d.h"  // Size2
#include "kernels/cpu/pooling.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cuda/memory.h"

namespace saliency {

struct Pool2dOptions {
  Size2 kernel{1};
  Size2 stride{0};  // 0 means "same as kernel", PyTorch's default
  Size2 padding{0};
  bool count_include_pad = true;  // average pooling only
};

Tensor max_pool2d(const Tensor& input, const Pool2dOptions& options);
// max_pool2d(relu(input), options), the same values and the same recorded ops (a ReLU, then the
// pooling), without the ReLU's pass: the pooling reads max(0, x), the ReLU keeps its input
// rather than an output, and the backward pass runs both in one (engine.cpp) when no rule
// replaces either. Where the input would be about four times the pooled output (a ResNet's stem
// walked by IG and SmoothGrad from the stem's output), that pass wrote and read the largest
// tensor of the network. On the GPU, under a SaveForRulesGuard (LRP) or a TraceScope, it is the
// two ops.
Tensor relu_max_pool2d(const Tensor& input, const Pool2dOptions& options);
Tensor avg_pool2d(const Tensor& input, const Pool2dOptions& options);
Tensor adaptive_avg_pool2d(const Tensor& input, Size2 output_size);

namespace autograd {

// Index of each max-pooling output's winner within its input plane, kept on the device the
// pooling ran on (one of the two pointers is set).
struct PoolArgmax {
  std::unique_ptr<kernels::cpu::Scratch<int32_t>> host;
  std::unique_ptr<kernels::cuda::DeviceArray<int32_t>> device;
};

class MaxPoolNode final : public Node {
 public:
  MaxPoolNode(std::vector<Edge> inputs, Shape input_shape, kernels::cpu::PoolGeometry geometry,
              std::shared_ptr<PoolArgmax> argmax)
      : Node(OpKind::MaxPool2d, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        geometry_(geometry),
        argmax_(std::move(argmax)) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  // The gradient of the ReLU's input when the pooled tensor is a ReLU's output: the default
  // backward followed by the ReLU's, in one pass (relu_passed: ReluNode::passed(), on the CPU).
  Tensor backward_through_relu(const Tensor& grad_output, const Tensor& relu_passed) const;
  const kernels::cpu::PoolGeometry& geometry() const { return geometry_; }
  int64_t saved_bytes() const override {
    return argmax_
               ? int64_t(sizeof(int32_t)) * geometry_.planes * geometry_.out_h() * geometry_.out_w()
               : 0;
  }

 private:
  void clear_saved() override { argmax_.reset(); }
  Shape input_shape_;
  kernels::cpu::PoolGeometry geometry_;
  std::shared_ptr<PoolArgmax> argmax_;
};

// Average pooling, plain or adaptive (attributes tell which). Its backward needs only shapes;
// input and output are kept only under a SaveForRulesGuard (undefined otherwise).
class AvgPoolNode final : public Node {
 public:
  AvgPoolNode(OpKind kind, std::vector<Edge> inputs, Shape input_shape, Shape output_shape,
              kernels::cpu::PoolGeometry geometry, bool count_include_pad)
      : Node(kind, std::move(inputs)),
        input_shape_(std::move(input_shape)),
        output_shape_(std::move(output_shape)),
        geometry_(geometry),
        count_include_pad_(count_include_pad) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask& needs) const override;
  const Shape& input_shape() const { return input_shape_; }
  void save_for_rules(Tensor input, Tensor output) {
    input_ = std::move(input);
    output_ = std::move(output);
  }
  const Tensor& input() const { return input_; }
  const Tensor& output() const { return output_; }
  int64_t saved_bytes() const override { return bytes_of({&input_, &output_}); }

 private:
  void clear_saved() override { input_ = output_ = Tensor(); }
  Tensor input_, output_;
  Shape input_shape_, output_shape_;
  kernels::cpu::PoolGeometry geometry_;
  bool count_include_pad_;
};

}  // namespace autograd
}  // namespace saliency
