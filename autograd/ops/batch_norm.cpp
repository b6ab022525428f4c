#include "autograd/ops/batch_norm.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/memory.h"

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

// Training's bookkeeping, on host arrays: the running statistics move towards the batch's
// (the variance unbiased, as PyTorch), and `variance` becomes 1 / sqrt(variance + eps).
template <typename T>
void update_running_statistics(int64_t channels, int64_t count, const BatchNormOptions& options,
                               const T* mean, T* variance, T* running_mean, T* running_var) {
  const double unbiased = double(count) / double(count - 1);
  for (int64_t c = 0; c < channels; ++c) {
    running_mean[c] = T((1 - options.momentum) * running_mean[c] + options.momentum * mean[c]);
    running_var[c] =
        T((1 - options.momentum) * running_var[c] + options.momentum * variance[c] * unbiased);
    variance[c] = T(1.0 / std::sqrt(double(variance[c]) + options.eps));
  }
}

// Batch statistics of an input on the GPU into host tensors mean / inv_std, with the running
// statistics (on the GPU) updated as on the CPU.
void batch_statistics_on_device(const Tensor& input, const Tensor& running_mean,
                                const Tensor& running_var, const BatchNormOptions& options,
                                const cpu::BatchNormGeometry& g, const Tensor& mean,
                                const Tensor& inv_std) {
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    Tensor device_mean = Tensor::empty({g.channels}, input.dtype(), input.device());
    Tensor device_variance = Tensor::empty({g.channels}, input.dtype(), input.device());
    cuda::batch_norm_statistics(g, input.device_data<T>(), device_mean.device_data<T>(),
                                device_variance.device_data<T>());
    const size_t bytes = size_t(g.channels) * sizeof(T);
    cuda::copy_to_host(mean.data<T>(), device_mean.device_data<T>(), bytes);
    cuda::copy_to_host(inv_std.data<T>(), device_variance.device_data<T>(), bytes);
    const Tensor rm = running_mean.to(Device::cpu()), rv = running_var.to(Device::cpu());
    update_running_statistics(g.channels, g.batch * g.plane, options, mean.data<T>(),
                              inv_std.data<T>(), rm.data<T>(), rv.data<T>());
    cuda::copy_to_device(running_mean.device_data<T>(), rm.data<T>(), bytes);
    cuda::copy_to_device(running_var.device_data<T>(), rv.data<T>(), bytes);
  });
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
      update_running_statistics(g.channels, count, options, m, s, rm, rv);
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
    if (options.training)
      batch_statistics_on_device(input, running_mean, running_var, options, g, mean, inv_std);
    else
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
  const Device device = grad_output.device();
  const bool on_gpu = device.is_cuda();
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    const T* gy = grad_output.device_data<T>();
    const T* x = input_.device_data<T>();
    const T* w = weight_.defined() ? weight_.device_data<T>() : nullptr;
    const T* mean = mean_.device_data<T>();
    const T* inv_std = inv_std_.device_data<T>();
    if (needs[0]) {
      grads[0] = Tensor::empty(input_.shape(), input_.dtype(), device);
      T* gx = grads[0].device_data<T>();
      if (batch_statistics_ && on_gpu)
        cuda::batch_norm_backward_input_batch_stats(geometry_, gy, x, mean, inv_std, w, gx);
      else if (batch_statistics_)
        cpu::batch_norm_backward_input_batch_stats(geometry_, gy, x, mean, inv_std, w, gx);
      else if (on_gpu)
        cuda::batch_norm_backward_input_frozen(geometry_, gy, inv_std, w, gx);
      else
        cpu::batch_norm_backward_input_frozen(geometry_, gy, inv_std, w, gx);
    }
    if (needs[1] || needs[2]) {
      if (needs[1]) grads[1] = Tensor::empty({geometry_.channels}, input_.dtype(), device);
      if (needs[2]) grads[2] = Tensor::empty({geometry_.channels}, input_.dtype(), device);
      T* gw = needs[1] ? grads[1].device_data<T>() : nullptr;
      T* gb = needs[2] ? grads[2].device_data<T>() : nullptr;
      if (on_gpu)
        cuda::batch_norm_backward_params(geometry_, gy, x, mean, inv_std, gw, gb);
      else
        cpu::batch_norm_backward_params(geometry_, gy, x, mean, inv_std, gw, gb);
    }
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
