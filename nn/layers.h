#pragma once
// Layers with parameters, mirroring torch.nn (same parameter and buffer names), and Sequential.
#include <functional>

#include "autograd/ops.h"
#include "core/generator.h"
#include "nn/module.h"

namespace saliency::nn {

class Conv2d : public Module {
 public:
  struct Options {
    Size2 stride{1};
    Size2 padding{0};
    Size2 dilation{1};
    int64_t groups = 1;
    bool bias = true;
  };
  Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, const Options& options);
  Tensor forward(const Tensor& input) const;
  // relu(forward(input)), the ReLU fused into the convolution's store where nothing is recorded
  // (see conv2d_relu).
  Tensor forward_relu(const Tensor& input) const;
  // relu(forward(input) + residual), fused likewise (see conv2d_add_relu).
  Tensor forward_add_relu(const Tensor& input, const Tensor& residual) const;
  // He (Kaiming) normal initialization for ReLU networks, fan-out mode as torchvision's ResNet.
  void initialize(Generator& generator);
  // Inference-time BatchNorm folding: with s = gamma / sqrt(var + eps), weight *= s per output
  // channel and bias = (bias - mean) * s + beta (a bias is added when the conv had none); the
  // BatchNorm then passes its input through. Exact up to float32 rounding. Afterwards the state
  // dict is no longer torchvision's (convs carry biases), and the layer keeps its weight in the
  // layouts the CPU kernels read in its place (WeightCopies, made on first use, made again after
  // the weight is written through fill, set or copy_from, not through data()).
  void absorb_batch_norm(class BatchNorm2d& batch_norm);
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Conv2dOptions& conv_options() const { return conv_options_; }

 private:
  Tensor weight_;
  Tensor bias_;
  Conv2dOptions conv_options_;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& input) const;  // batch statistics in training mode
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  double eps() const { return eps_; }
  // Set by Conv2d::absorb_batch_norm: forward is then the identity (inference only).
  void mark_folded() { folded_ = true; }
  bool folded() const { return folded_; }

 private:
  Tensor weight_, bias_, running_mean_, running_var_;  // handles to the registered tensors
  double eps_, momentum_;
  bool folded_ = false;
};

// torch.nn.LayerNorm over the last dimension: "weight" (ones) and "bias" (zeros).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t features, double eps = 1e-5);
  Tensor forward(const Tensor& input) const;

 private:
  Tensor weight_, bias_;
  double eps_;
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& input) const;
  // PyTorch's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  void initialize(Generator& generator);
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  Tensor weight_;
  Tensor bias_;
};

// Children named "0", "1", ... as torch.nn.Sequential; forward applies them in order.
class Sequential : public Module {
 public:
  using Step = std::function<Tensor(const Tensor&)>;
  template <typename M>
  std::shared_ptr<M> append(std::shared_ptr<M> module) {
    steps_.push_back([module](const Tensor& x) { return module->forward(x); });
    return register_module(std::to_string(steps_.size() - 1), std::move(module));
  }
  // A step without parameters (ReLU, pooling, dropout at inference) that still takes an index,
  // as torch.nn.Sequential numbers those modules too.
  void append_function(Step step) { steps_.push_back(std::move(step)); }
  // With a tap prefix, each child's output passes tap point "<prefix>.<index>".
  Tensor forward(const Tensor& input, const std::string& tap_prefix = "") const;
  size_t size() const { return steps_.size(); }

 private:
  std::vector<Step> steps_;
};

}  // namespace saliency::nn
