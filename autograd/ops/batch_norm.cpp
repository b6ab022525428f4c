#include "autograd/ops/batch_norm.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/batch_norm.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

namespace {

// Frozen statistics into host tensors (per channel: the running mean and 1 / sqrt(var + eps)),
// from running statistics on either device.
void frozen_statistics(const Tensor& running_mean, const Tensor& running_var, double eps,
                       const Tensor& mean, const Tensor& inv_std) {
  const Tensor rm = running_mean.to(Device::cpu()), rv = running_var.to(Device::cpu());
  dispatch_dtype(rm.dtype(), [&]<typename T>() {
    const T *mean_in = rm.data<T>(), *var_in = rv.data<T>();
    T *m = mean.data<T>(), *s = inv_std.data<T>();
    for (int64_t c = 0; c < rm.numel(); ++c) {
      m[c] = mean_in[c];
      s[c] = T(1.0 / std::sqrt(double(var_in[c]) + eps));
    }
  });
}

void check_channel_vector(const Tensor& input, const Tensor& vector, const char* what) {
  if (!vector.defined()) return;
  SALIENCY_CHECK(vector.rank() == 1 && vector.size(0) == input.size(1), "batch_norm2d: ", what, " ",
                 vector.shape(), " does not match input ", input.shape());
  check_same_dtype_device("batch_norm2d", input, vector);
}

// The CPU path: batch statistics (updating the running ones) when training, else frozen.
void forward_on_cpu(const Tensor& input, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var,
                    const BatchNormOptions& options, const cpu::BatchNormGeometry& g,
                    const Tensor& mean, const Tensor& inv_std, const Tensor& output) {
  const int64_t count = g.batch * g.plane;
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    T* m = mean.data<T>();
    T* s = inv_std.data<T>();
    T* rm = running_mean.data<T>();
    T* rv = running_var.data<T>();
    if (options.training) {
      cpu::batch_norm_statistics(g, input.data<T>(), m, s);  // s holds the biased variance
      const double unbiased = double(count) / double(count - 1);
      for (int64_t c = 0; c < g.channels; ++c) {
        rm[c] = T((1 - options.momentum) * rm[c] + options.momentum * m[c]);
        rv[c] = T((1 - options.momentum) * rv[c] + options.momentum * s[c] * unbiased);
        s[c] = T(1.0 / std::sqrt(double(s[c]) + options.eps));
      }
    } else {
      frozen_statistics(running_mean, running_var, options.eps, mean, inv_std);
    }
    cpu::batch_norm_forward(g, input.data<T>(), m, s, weight.defined() ? weight.data<T>() : nullptr,
                            bias.defined() ? bias.data<T>() : nullptr, output.data<T>());
  });
}

}  // namespace

Tensor batch_norm2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                    const Tensor& running_mean, const Tensor& running_var,
                    const BatchNormOptions& options) {
  SALIENCY_CHECK(input.rank() == 4, "batch_norm2d: expected input [N, C, H, W], got ",
                 input.shape());
  SALIENCY_CHECK(running_mean.defined() && running_var.defined(),
                 "batch_norm2d: running_mean and running_var are required");
  check_channel_vector(input, weight, "weight");
  check_channel_vector(input, bias, "bias");
  check_channel_vector(input, running_mean, "running_mean");
  check_channel_vector(input, running_var, "running_var");
  const cpu::BatchNormGeometry g{input.size(0), input.size(1), input.size(2) * input.size(3)};
  const int64_t count = g.batch * g.plane;
  SALIENCY_CHECK(!options.training || count > 1,
                 "batch_norm2d: training needs more than one "
                 "value per channel, got input ",
                 input.shape());

  Tensor mean = Tensor::empty({g.channels}, input.dtype());
  Tensor inv_std = Tensor::empty({g.channels}, input.dtype());
  Tensor output = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (input.device().is_cuda()) {
    SALIENCY_CHECK(!options.training, "batch_norm2d: training (batch statistics) has no ",
                   input.device().str(), " kernel; train on the CPU");
    frozen_statistics(running_mean, running_var, options.eps, mean, inv_std);
    mean = mean.to(input.device());
    inv_std = inv_std.to(input.device());
    dispatch_dtype(input.dtype(), [&]<typename T>() {
      cuda::batch_norm_forward(
          g, input.device_data<T>(), mean.device_data<T>(), inv_std.device_data<T>(),
          weight.defined() ? weight.device_data<T>() : nullptr,
          bias.defined() ? bias.device_data<T>() : nullptr, output.device_data<T>());
    });
  } else {
    forward_on_cpu(input, weight, bias, running_mean, running_var, options, g, mean, inv_std,
                   output);
  }
  if (!autograd::should_record({&input, &weight, &bias})) return output;
  return autograd::attach(output, std::make_shared<autograd::BatchNormNode>(
                                      autograd::edges_to({&input, &weight, &bias}), input.detach(),
                                      weight.defined() ? weight.detach() : Tensor(), mean, inv_std,
                                      options.training, g));
}

namespace autograd {

TensorList BatchNormNode::default_backward(const Tensor& grad_output,
                                           const InputMask& needs) const {
  TensorList grads(3);
  if (grad_output.device().is_cuda()) {
    SALIENCY_CHECK(!batch_statistics_ && !needs[1] && !needs[2],
                   "batch_norm2d backward: only the input gradient with frozen statistics has a ",
                   grad_output.device().str(), " kernel; train on the CPU");
    grads[0] = Tensor::empty(input_.shape(), input_.dtype(), grad_output.device());
    dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
      cuda::batch_norm_backward_input_frozen(
          geometry_, grad_output.device_data<T>(), inv_std_.device_data<T>(),
          weight_.defined() ? weight_.device_data<T>() : nullptr, grads[0].device_data<T>());
    });
    return grads;
  }
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    const T* gy = grad_output.data<T>();
    const T* w = weight_.defined() ? weight_.data<T>() : nullptr;
    if (needs[0]) {
      grads[0] = Tensor::empty(input_.shape(), input_.dtype());
      if (batch_statistics_)
        cpu::batch_norm_backward_input_batch_stats(geometry_, gy, input_.data<T>(), mean_.data<T>(),
                                                   inv_std_.data<T>(), w, grads[0].data<T>());
      else
        cpu::batch_norm_backward_input_frozen(geometry_, gy, inv_std_.data<T>(), w,
                                              grads[0].data<T>());
    }
    if (needs[1] || needs[2]) {
      if (needs[1]) grads[1] = Tensor::empty({geometry_.channels}, input_.dtype());
      if (needs[2]) grads[2] = Tensor::empty({geometry_.channels}, input_.dtype());
      cpu::batch_norm_backward_params(geometry_, gy, input_.data<T>(), mean_.data<T>(),
                                      inv_std_.data<T>(), needs[1] ? grads[1].data<T>() : nullptr,
                                      needs[2] ? grads[2].data<T>() : nullptr);
    }
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
