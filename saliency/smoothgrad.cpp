// SmoothGrad (Smilkov et al. 2017): gradients at n noisy copies x + e_i, e_i ~ N(0, s^2) with
// s = noise_level * (max(x) - min(x)); the result is their mean (smoothgrad), the mean of their
// squares (smoothgrad-sq) or their variance (vargrad, E[g^2] - E[g]^2, as Captum's NoiseTunnel).
// Samples run in chunks of options.batch_size; sums go in sample order, so the chunk size does
// not change the result. With options.device a GPU, the copies and sums stay there.
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/method_steps.h"
#include "saliency/relu_rules.h"

namespace saliency::methods {
namespace {

double value_range(const Tensor& x) {
  const std::vector<double> v = x.to_vector();
  const auto [low, high] = std::minmax_element(v.begin(), v.end());
  return *high - *low;
}

// The attribution at each noisy copy: the signed gradient, or a gradient method's.
Tensor sample_attributions(const Classifier& model, const Tensor& batch, int64_t target,
                           std::optional<Method> base) {
  if (!base) return input_gradients(model, batch, {target});
  std::optional<autograd::RuleSet> rules;
  if (*base == Method::GuidedBackprop) rules = guided_backprop_rules();
  if (*base == Method::Deconvnet) rules = deconvnet_rules();
  const Tensor gradients = input_gradients(model, batch, {target}, rules ? &*rules : nullptr);
  autograd::NoGradGuard no_graph;
  if (*base == Method::Vanilla) return abs(gradients);
  if (*base == Method::GradientXInput) return mul(batch, gradients);
  return gradients;
}

// Whether the result is linear in the sample gradients: the mean of signed ones (the plain
// gradient, guided backprop's, deconvnet's), not their squares or absolute values.
bool linear_in_gradients(Method method, std::optional<Method> base) {
  return method == Method::SmoothGrad &&
         (!base || *base == Method::GuidedBackprop || *base == Method::Deconvnet);
}

}  // namespace

Tensor smoothgrad(const Classifier& model, const Tensor& input, int64_t target, Method method,
                  const MethodOptions& options) {
  const SmoothGradOptions& o = options.smoothgrad;
  const Tensor& explicit_noise = o.noise;
  if (explicit_noise.defined())
    SALIENCY_CHECK(explicit_noise.rank() == 4 && explicit_noise.size(0) >= 1 &&
                       explicit_noise.select_batch(0).shape() == input.select_batch(0).shape(),
                   "smoothgrad: noise ", explicit_noise.shape(), " does not fit input ",
                   input.shape(), " (expected [n, C, H, W])");
  const int64_t samples = explicit_noise.defined() ? explicit_noise.size(0) : o.samples;
  SALIENCY_CHECK(samples >= 1, "smoothgrad: needs at least one sample, got ", samples);
  const double sigma =
      o.absolute_stdev >= 0 ? o.absolute_stdev : o.noise_level * value_range(input);
  if (o.base)
    SALIENCY_CHECK(*o.base == Method::Vanilla || *o.base == Method::GradientXInput ||
                       *o.base == Method::GuidedBackprop || *o.base == Method::Deconvnet,
                   "smoothgrad: cannot average ", method_name(*o.base),
                   " (choose vanilla, grad-x-input, guided-backprop or deconvnet)");
  // Sample i's noise is draws [i n, (i + 1) n) of the Philox stream `seed` (n = the input's
  // size), made on the model's device: the same noise in any batch size and, up to float
  // rounding, on the CPU and a GPU. The noisy copies, their gradients and the sums live there.
  const uint64_t per_sample = uint64_t(input.numel());
  const Tensor x = input.to(options.device);
  // The mean of signed gradients is linear in them: with a classifier cut after an affine
  // first layer, they are averaged at that layer's output and the layer's backward runs once.
  const Classifier::Split* split = linear_in_gradients(method, o.base) ? model.split() : nullptr;
  const Classifier differentiated = split ? Classifier(split->rest) : model;
  Tensor sum, sum_of_squares;
  for_each_chunk(samples, options.batch_size, [&](int64_t begin, int64_t end) {
    Tensor batch;
    {
      autograd::NoGradGuard no_graph;
      std::vector<Tensor> noisy;
      for (int64_t i = begin; i < end; ++i) {
        const Tensor noise =
            explicit_noise.defined()
                ? explicit_noise.slice_batch(i, i + 1).to(input.dtype()).to(options.device)
                : normal_noise(input.shape(), o.seed, uint64_t(i) * per_sample, sigma,
                               input.dtype(), options.device);
        noisy.push_back(add(x, noise));
      }
      batch = split ? split->first(concat_batch(noisy)) : concat_batch(noisy);
    }
    const Tensor gradients = sample_attributions(differentiated, batch, target, o.base);
    autograd::NoGradGuard no_graph;
    for (int64_t i = 0; i < end - begin; ++i) {
      const Tensor g = gradients.slice_batch(i, i + 1);
      if (!sum.defined())  // the gradients' shape: the input's, or the first layer's output's
        sum = zeros(g.shape(), g.dtype()).to(g.device()), sum_of_squares = sum.clone();
      sum = add(sum, g);
      if (method != Method::SmoothGrad) sum_of_squares = add(sum_of_squares, square(g));
    }
  });
  Tensor mean = mul_scalar(sum, 1.0 / double(samples));
  if (split) mean = first_layer_backward(*split, mean, x);
  autograd::NoGradGuard no_graph;
  if (method == Method::SmoothGrad) return mean.to(Device::cpu());
  const Tensor mean_square = mul_scalar(sum_of_squares, 1.0 / double(samples));
  return (method == Method::SmoothGradSquared ? mean_square : sub(mean_square, square(mean)))
      .to(Device::cpu());
}

}  // namespace saliency::methods
