#include "autograd/ops/conv2d.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "autograd/flop_counter.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "kernels/cuda/conv2d.h"

namespace saliency {

namespace cpu = kernels::cpu;
namespace cuda = kernels::cuda;

namespace {

void check_device_geometry(const char* op, Device device, const cpu::Conv2dGeometry& g);

cpu::Conv2dGeometry conv2d_geometry(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                    const Conv2dOptions& o) {
  SALIENCY_CHECK(input.rank() == 4 && weight.rank() == 4,
                 "conv2d: expected input [N, C, H, W] "
                 "and weight [O, C/groups, kh, kw], got input ",
                 input.shape(), " and weight ", weight.shape());
  SALIENCY_CHECK(o.groups >= 1 && o.stride.h >= 1 && o.stride.w >= 1 && o.dilation.h >= 1 &&
                     o.dilation.w >= 1 && o.padding.h >= 0 && o.padding.w >= 0,
                 "conv2d: stride and dilation must be >= 1, padding >= 0, groups >= 1");
  cpu::Conv2dGeometry g{.batch = input.size(0),
                        .in_channels = input.size(1),
                        .in_h = input.size(2),
                        .in_w = input.size(3),
                        .out_channels = weight.size(0),
                        .kernel_h = weight.size(2),
                        .kernel_w = weight.size(3),
                        .stride_h = o.stride.h,
                        .stride_w = o.stride.w,
                        .pad_h = o.padding.h,
                        .pad_w = o.padding.w,
                        .dilation_h = o.dilation.h,
                        .dilation_w = o.dilation.w,
                        .groups = o.groups};
  SALIENCY_CHECK(g.in_channels % g.groups == 0 && g.out_channels % g.groups == 0 &&
                     weight.size(1) == g.in_channels / g.groups,
                 "conv2d: input ", input.shape(), " does not match weight ", weight.shape(),
                 " with groups=", g.groups);
  SALIENCY_CHECK(g.in_h + 2 * g.pad_h > g.dilation_h * (g.kernel_h - 1) &&
                     g.in_w + 2 * g.pad_w > g.dilation_w * (g.kernel_w - 1),
                 "conv2d: input ", input.shape(), " is smaller than the dilated kernel ",
                 weight.shape(), " with padding ", o.padding.h, "x", o.padding.w);
  if (bias.defined())
    SALIENCY_CHECK(bias.rank() == 1 && bias.size(0) == g.out_channels, "conv2d: bias ",
                   bias.shape(), " does not match ", g.out_channels, " output channels");
  check_same_dtype_device("conv2d", input, weight);
  if (bias.defined()) check_same_dtype_device("conv2d", input, bias);
  check_device_geometry("conv2d", input.device(), g);
  return g;
}

// The CUDA kernel takes every geometry but grouped convolutions.
void check_device_geometry(const char* op, Device device, const cpu::Conv2dGeometry& g) {
  if (device.is_cpu()) return;
  SALIENCY_CHECK(device.is_cuda() && cuda::conv2d_supported(g), op, ": no ", device.str(),
                 " kernel for grouped convolutions (groups ", g.groups, "); run it on the CPU");
}

template <typename T>
void forward(const cpu::Conv2dGeometry& g, const Tensor& input, const Tensor& weight,
             const Tensor& bias, const Tensor& output, const WeightCopies::Copy& weight_copy) {
  if (input.device().is_cpu()) {
    cpu::conv2d_forward(g, input.data<T>(), weight.data<T>(),
                        bias.defined() ? bias.data<T>() : nullptr, output.data<T>(),
                        cpu::ConvActivation::none, static_cast<const T*>(nullptr),
                        weight_copy.view<T>());
    return;
  }
  cuda::conv2d_forward(g, input.device_data<T>(), weight.device_data<T>(),
                       bias.defined() ? bias.device_data<T>() : nullptr, output.device_data<T>());
}

// Every field equal (a geometry is integers only, without padding: nvcc's C++17 has no defaulted
// operator== for the kernels' shared header).
bool same_geometry(const cpu::Conv2dGeometry& a, const cpu::Conv2dGeometry& b) {
  static_assert(std::has_unique_object_representations_v<cpu::Conv2dGeometry>);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The weight's copy for `pass`, where the layer's options keep them.
WeightCopies::Copy weight_copy_for(const Conv2dOptions& options, const Tensor& weight,
                                   const cpu::Conv2dGeometry& g, cpu::ConvPass pass) {
  return options.weight_copies ? options.weight_copies->of(weight, g, pass) : WeightCopies::Copy{};
}

}  // namespace

WeightCopies::Copy WeightCopies::of(const Tensor& weight, const cpu::Conv2dGeometry& g,
                                    cpu::ConvPass pass) {
  if (!weight.device().is_cpu()) return {};
  cpu::Conv2dGeometry one = g;
  one.batch = 1;
  Copy wanted;
  dispatch_dtype(weight.dtype(),
                 [&]<typename T>() { wanted.layout = cpu::conv2d_weight_layout<T>(g, pass); });
  if (wanted.layout == cpu::ConvWeightLayout::none) return {};
  std::lock_guard lock(mutex_);
  Kept& kept = kept_[pass == cpu::ConvPass::forward ? 0 : 1];
  const uint64_t version = weight.version();  // read first: a write after it makes another
  if (kept.copy.layout == wanted.layout && same_geometry(kept.geometry, one) &&
      kept.source == weight.raw_data() && kept.source_version == version)
    return kept.copy;
  // A new tensor each time: nodes recorded earlier keep the copy they were given.
  dispatch_dtype(weight.dtype(), [&]<typename T>() {
    wanted.tensor = Tensor::empty({cpu::conv2d_weight_copy_size<T>(g, pass)}, weight.dtype());
    cpu::make_conv2d_weight_copy(g, pass, weight.data<T>(), wanted.tensor.data<T>());
  });
  kept = {wanted, one, weight.raw_data(), version};
  return wanted;
}

WeightCopies::Derived WeightCopies::derived(const Tensor& weight, std::string_view name,
                                            const std::function<Tensor(const Tensor&)>& derive) {
  std::lock_guard lock(mutex_);
  const uint64_t version = weight.version();  // read first: a write after it makes another
  const void* source = weight.raw_device_data();
  auto kept = std::find_if(derived_.begin(), derived_.end(),
                           [&](const KeptDerived& k) { return k.name == name; });
  if (kept != derived_.end() && kept->source == source && kept->source_version == version)
    return kept->derived;
  Derived made{derive(weight), std::make_shared<WeightCopies>()};
  const KeptDerived entry{std::string(name), source, version, made};
  if (kept == derived_.end())
    derived_.push_back(entry);
  else
    *kept = entry;
  return made;
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& options) {
  const cpu::Conv2dGeometry g = conv2d_geometry(input, weight, bias, options);
  Tensor output =
      Tensor::empty({g.batch, g.out_channels, g.out_h(), g.out_w()}, input.dtype(), input.device());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(g.forward_flops());
    forward<T>(g, input, weight, bias, output,
               weight_copy_for(options, weight, g, cpu::ConvPass::forward));
  });
  if (!autograd::should_record({&input, &weight, &bias})) return output;
  return autograd::attach(
      output, std::make_shared<autograd::Conv2dNode>(
                  autograd::edges_to({&input, &weight, &bias}), input.detach(), weight.detach(),
                  bias.defined() ? bias.detach() : Tensor(), g,
                  weight_copy_for(options, weight, g, cpu::ConvPass::backward_input),
                  options.weight_copies));
}

namespace {

// relu(conv2d(...) [+ residual]) in one kernel call, recorded (when it records) as the nodes the
// plain ops make, so that backward rules and traces see a conv [an add] and a ReLU. The conv's
// and the add's own outputs are never materialized: the conv's backward needs its input and
// weight, the add's only shapes, the ReLU's only its output, so those nodes hang on aliases of
// that output.
Tensor fused_conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias,
                         const Conv2dOptions& options, const Tensor& residual) {
  const cpu::Conv2dGeometry g = conv2d_geometry(input, weight, bias, options);
  const Shape shape{g.batch, g.out_channels, g.out_h(), g.out_w()};
  if (residual.defined()) {
    SALIENCY_CHECK(residual.shape() == shape, "conv2d_add_relu: residual ", residual.shape(),
                   " does not match the output ", shape);
    check_same_dtype_device("conv2d_add_relu", input, residual);
  }
  Tensor output = Tensor::empty(shape, input.dtype());
  dispatch_dtype(input.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(g.forward_flops());
    cpu::conv2d_forward(g, input.data<T>(), weight.data<T>(),
                        bias.defined() ? bias.data<T>() : nullptr, output.data<T>(),
                        cpu::ConvActivation::relu,
                        residual.defined() ? residual.data<T>() : nullptr,
                        weight_copy_for(options, weight, g, cpu::ConvPass::forward).view<T>());
  });
  if (!autograd::should_record({&input, &weight, &bias, &residual})) return output;
  Tensor before_relu = autograd::attach(
      output.detach(), std::make_shared<autograd::Conv2dNode>(
                           autograd::edges_to({&input, &weight, &bias}), input.detach(),
                           weight.detach(), bias.defined() ? bias.detach() : Tensor(), g,
                           weight_copy_for(options, weight, g, cpu::ConvPass::backward_input),
                           options.weight_copies));
  if (residual.defined())
    before_relu = autograd::attach(
        output.detach(), std::make_shared<autograd::BinaryNode>(
                             autograd::OpKind::Add, autograd::edges_to({&before_relu, &residual}),
                             Tensor(), Tensor(), shape, shape));
  return autograd::attach(output, std::make_shared<autograd::ReluNode>(
                                      autograd::edges_to({&before_relu}), output.detach()));
}

}  // namespace

Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias,
                   const Conv2dOptions& options) {
  if (!input.device().is_cpu() || autograd::SaveForRulesGuard::active())
    return relu(conv2d(input, weight, bias, options));
  return fused_conv2d_relu(input, weight, bias, options, Tensor());
}

Tensor conv2d_add_relu(const Tensor& input, const Tensor& weight, const Tensor& bias,
                       const Conv2dOptions& options, const Tensor& residual) {
  if (!input.device().is_cpu() || !residual.device().is_cpu() ||
      autograd::SaveForRulesGuard::active())
    return relu(add(conv2d(input, weight, bias, options), residual));
  return fused_conv2d_relu(input, weight, bias, options, residual);
}

Tensor conv2d_input_gradient(const Tensor& grad_output, const Tensor& weight,
                             const cpu::Conv2dGeometry& g, const Tensor& relu_output,
                             const Tensor& addend, const WeightCopies::Copy& weight_copy) {
  SALIENCY_CHECK(grad_output.shape() == Shape({g.batch, g.out_channels, g.out_h(), g.out_w()}) &&
                     weight.shape() ==
                         Shape({g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w}),
                 "conv2d_input_gradient: gradient ", grad_output.shape(), " or weight ",
                 weight.shape(), " does not match the layer");
  check_same_dtype_device("conv2d_input_gradient", grad_output, weight);
  check_device_geometry("conv2d_input_gradient", weight.device(), g);
  for (const auto& [name, tensor] : {std::pair{"ReLU output", &relu_output}, {"addend", &addend}})
    SALIENCY_CHECK(
        !tensor->defined() || (tensor->shape() == Shape({g.batch, g.in_channels, g.in_h, g.in_w}) &&
                               tensor->dtype() == weight.dtype() && tensor->device().is_cpu() &&
                               weight.device().is_cpu()),
        "conv2d_input_gradient: ", name, " ", tensor->shape(),
        " does not match the layer's input (or is not on the CPU)");
  SALIENCY_CHECK(!weight_copy.tensor.defined() ||
                     (weight_copy.tensor.dtype() == weight.dtype() &&
                      weight_copy.tensor.device().is_cpu() && weight.device().is_cpu()),
                 "conv2d_input_gradient: the weight's copy is not of its type (or not on the CPU)");
  Tensor grad_input =
      Tensor::empty({g.batch, g.in_channels, g.in_h, g.in_w}, weight.dtype(), weight.device());
  dispatch_dtype(weight.dtype(), [&]<typename T>() {
    autograd::FlopCounter::add(g.forward_flops());
    if (weight.device().is_cpu())
      cpu::conv2d_backward_input(g, grad_output.data<T>(), weight.data<T>(), grad_input.data<T>(),
                                 relu_output.defined() ? relu_output.data<T>() : nullptr,
                                 addend.defined() ? addend.data<T>() : nullptr,
                                 weight_copy.view<T>());
    else
      cuda::conv2d_backward_input(g, grad_output.device_data<T>(), weight.device_data<T>(),
                                  grad_input.device_data<T>());
  });
  return grad_input;
}

namespace autograd {

Conv2dOptions Conv2dNode::options() const {
  const cpu::Conv2dGeometry& g = geometry_;
  return {.stride = {g.stride_h, g.stride_w},
          .padding = {g.pad_h, g.pad_w},
          .dilation = {g.dilation_h, g.dilation_w},
          .groups = g.groups};
}

TensorList Conv2dNode::backward_through_relu(const Tensor& grad_output, const InputMask& needs,
                                             const Tensor& relu_output,
                                             const Tensor& addend) const {
  InputMask rest = needs;
  rest[0] = false;
  TensorList grads = default_backward(grad_output, rest);
  grads[0] =
      conv2d_input_gradient(grad_output, weight_, geometry_, relu_output, addend, weight_copy_);
  return grads;
}

TensorList Conv2dNode::default_backward(const Tensor& grad_output, const InputMask& needs) const {
  TensorList grads(3);
  dispatch_dtype(grad_output.dtype(), [&]<typename T>() {
    if (needs[0])
      grads[0] = conv2d_input_gradient(grad_output, weight_, geometry_, {}, {}, weight_copy_);
    const Device device = grad_output.device();
    if (needs[1]) {
      check_same_dtype_device("conv2d weight gradient", grad_output, input_);
      check_device_geometry("conv2d weight gradient", device, geometry_);
      grads[1] = Tensor::empty(weight_.shape(), weight_.dtype(), device);
      FlopCounter::add(geometry_.forward_flops());
      if (device.is_cuda())
        cuda::conv2d_backward_weight(geometry_, grad_output.device_data<T>(),
                                     input_.device_data<T>(), grads[1].device_data<T>());
      else
        cpu::conv2d_backward_weight(geometry_, grad_output.data<T>(), input_.data<T>(),
                                    grads[1].data<T>());
    }
    if (needs.size() > 2 && needs[2]) {
      grads[2] = Tensor::empty({geometry_.out_channels}, grad_output.dtype(), device);
      if (device.is_cuda())
        cuda::conv2d_backward_bias(geometry_, grad_output.device_data<T>(),
                                   grads[2].device_data<T>());
      else
        cpu::conv2d_backward_bias(geometry_, grad_output.data<T>(), grads[2].data<T>());
    }
  });
  return grads;
}

}  // namespace autograd
}  // namespace saliency
