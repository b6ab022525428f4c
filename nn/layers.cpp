#include "nn/layers.h"

#include <cmath>

#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"

namespace saliency::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, Size2 kernel, const Options& options)
    : weight_(register_parameter(
          "weight", zeros({out_channels, in_channels / std::max<int64_t>(options.groups, 1),
                           kernel.h, kernel.w}))),
      conv_options_{options.stride, options.padding, options.dilation, options.groups} {
  SALIENCY_CHECK(options.groups >= 1 && in_channels % options.groups == 0 &&
                     out_channels % options.groups == 0,
                 "Conv2d: ", in_channels, " -> ", out_channels, " channels do not split into ",
                 options.groups, " groups");
  if (options.bias) bias_ = register_parameter("bias", zeros({out_channels}));
}

Tensor Conv2d::forward(const Tensor& input) const {
  return conv2d(input, weight_, bias_, conv_options_);
}

Tensor Conv2d::forward_relu(const Tensor& input) const {
  return conv2d_relu(input, weight_, bias_, conv_options_);
}

Tensor Conv2d::forward_add_relu(const Tensor& input, const Tensor& residual) const {
  return conv2d_add_relu(input, weight_, bias_, conv_options_, residual);
}

void Conv2d::initialize(Generator& generator) {
  const double fan_out = double(weight_.size(0) * weight_.size(2) * weight_.size(3));
  weight_.copy_from(mul_scalar(randn(weight_.shape(), generator), std::sqrt(2.0 / fan_out)));
  if (bias_.defined()) bias_.fill(0.0);
}

void Conv2d::absorb_batch_norm(BatchNorm2d& batch_norm) {
  const int64_t channels = weight_.size(0);
  SALIENCY_CHECK(batch_norm.weight().size(0) == channels && !batch_norm.folded(),
                 "absorb_batch_norm: BatchNorm of ", batch_norm.weight().size(0),
                 " channels does not follow a conv with ", channels, " outputs (or is folded)");
  if (!bias_.defined()) bias_ = register_parameter("bias", zeros({channels}, weight_.dtype()));
  const std::vector<double> gamma = batch_norm.weight().to_vector(),
                            beta = batch_norm.bias().to_vector(),
                            mean = batch_norm.running_mean().to_vector(),
                            var = batch_norm.running_var().to_vector();
  const int64_t per_channel = weight_.numel() / channels;
  dispatch_dtype(weight_.dtype(), [&]<typename T>() {
    T* w = weight_.data<T>();
    T* b = bias_.data<T>();
    for (int64_t c = 0; c < channels; ++c) {
      const double scale = gamma[c] / std::sqrt(var[c] + batch_norm.eps());
      for (int64_t i = 0; i < per_channel; ++i)
        w[c * per_channel + i] = T(w[c * per_channel + i] * scale);
      b[c] = T((double(b[c]) - mean[c]) * scale + beta[c]);
    }
  });
  batch_norm.mark_folded();
  // An inference layer from now on: it may keep its weight in the layouts the kernels read (made
  // again if the weight is rewritten through fill, set or copy_from).
  conv_options_.weight_copies = std::make_shared<WeightCopies>();
}

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum)
    : weight_(register_parameter("weight", ones({channels}))),
      bias_(register_parameter("bias", zeros({channels}))),
      running_mean_(register_buffer("running_mean", zeros({channels}))),
      running_var_(register_buffer("running_var", ones({channels}))),
      eps_(eps),
      momentum_(momentum) {}

Tensor BatchNorm2d::forward(const Tensor& input) const {
  if (folded_) {
    SALIENCY_CHECK(!is_training(), "BatchNorm2d: folded into its conv; it cannot train");
    return input;
  }
  return batch_norm2d(input, weight_, bias_, running_mean_, running_var_,
                      {.training = is_training(), .momentum = momentum_, .eps = eps_});
}

LayerNorm::LayerNorm(int64_t features, double eps)
    : weight_(register_parameter("weight", ones({features}))),
      bias_(register_parameter("bias", zeros({features}))),
      eps_(eps) {}

Tensor LayerNorm::forward(const Tensor& input) const {
  return layer_norm(input, weight_, bias_, eps_);
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : weight_(register_parameter("weight", zeros({out_features, in_features}))) {
  if (bias) bias_ = register_parameter("bias", zeros({out_features}));
}

Tensor Linear::forward(const Tensor& input) const {
  return linear(input, weight_, bias_);
}

void Linear::initialize(Generator& generator) {
  const double bound = 1.0 / std::sqrt(double(weight_.size(1)));
  weight_.copy_from(scale_shift(rand(weight_.shape(), generator), 2 * bound, -bound));
  if (bias_.defined())
    bias_.copy_from(scale_shift(rand(bias_.shape(), generator), 2 * bound, -bound));
}

Tensor Sequential::forward(const Tensor& input, const std::string& tap_prefix) const {
  Tensor x = input;
  for (size_t i = 0; i < steps_.size(); ++i) {
    x = steps_[i](x);
    if (!tap_prefix.empty()) x = autograd::tap_point(tap_prefix + "." + std::to_string(i), x);
  }
  return x;
}

}  // namespace saliency::nn
