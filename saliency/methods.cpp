#include "saliency/methods.h"

#include <algorithm>
#include <optional>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/method_steps.h"

namespace saliency {
namespace {

const std::pair<Method, const char*> kNames[] = {
    {Method::Vanilla, "vanilla"},
    {Method::GradientXInput, "grad-x-input"},
    {Method::SmoothGrad, "smoothgrad"},
    {Method::SmoothGradSquared, "smoothgrad-sq"},
    {Method::VarGrad, "vargrad"},
    {Method::IntegratedGradients, "integrated-gradients"},
    {Method::GradCam, "gradcam"},
    {Method::GuidedBackprop, "guided-backprop"},
    {Method::Deconvnet, "deconvnet"},
    {Method::GuidedGradCam, "guided-gradcam"},
    {Method::Lrp, "lrp"},
    {Method::AttentionRollout, "rollout"},
};

}  // namespace

Method parse_method(const std::string& name) {
  for (const auto& [method, text] : kNames)
    if (name == text) return method;
  std::string known;
  for (const auto& [method, text] : kNames)
    known += (known.empty() ? "" : ", ") + std::string(text);
  throw InvalidArgument(concat("unknown method '", name, "' (known: ", known, ")"));
}

std::vector<Method> parse_methods(const std::string& list, const std::vector<Method>& all) {
  if (list == "all") return all;
  std::vector<Method> methods;
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    if (end > begin) methods.push_back(parse_method(list.substr(begin, end - begin)));
    begin = end + 1;
  }
  SALIENCY_CHECK(!methods.empty(), "no method named in '", list, "'");
  return methods;
}

std::string method_name(Method method) {
  for (const auto& [m, text] : kNames)
    if (m == method) return text;
  return "unknown";
}

std::vector<Method> all_methods() {
  std::vector<Method> methods;
  for (const auto& [method, text] : kNames) methods.push_back(method);
  return methods;
}

MethodOptions MethodOptions::preset(const std::string& name) {
  MethodOptions options;
  if (name == "paper") return options;
  SALIENCY_CHECK(name == "captum", "unknown preset '", name, "' (known: paper, captum)");
  options.smoothgrad.samples = 5;
  options.smoothgrad.absolute_stdev = 1.0;
  options.gradcam_relu = false;
  options.upsampling = "nearest";
  return options;
}

Tensor input_gradients(const Classifier& model, const Tensor& inputs,
                       const std::vector<int64_t>& targets, const autograd::RuleSet* rules,
                       Tensor* logits_out, Seed seed_kind) {
  Tensor x = inputs.detach().set_requires_grad(true);
  const Tensor logits = model(x);
  SALIENCY_CHECK(logits.rank() == 2 && logits.size(0) == x.size(0), "the model returned logits ",
                 logits.shape(), " for a batch of ", x.size(0));
  SALIENCY_CHECK(targets.size() == 1 || int64_t(targets.size()) == logits.size(0),
                 "input_gradients: ", targets.size(), " targets for a batch of ", logits.size(0));
  Tensor seed = zeros(logits.shape(), logits.dtype());
  for (int64_t n = 0; n < logits.size(0); ++n) {
    const int64_t target = targets.size() == 1 ? targets[0] : targets[n];
    SALIENCY_CHECK(target >= 0 && target < logits.size(1), "target class ", target,
                   " is out of range for a model with ", logits.size(1), " classes");
    seed.set({n, target}, seed_kind == Seed::One ? 1.0 : logits.at({n, target}));
  }
  std::optional<autograd::RuleScope> scope;
  if (rules) scope.emplace(*rules);
  // grad(), not backward(): only the input's gradient is computed, even for trainable weights.
  Tensor gradient = autograd::grad(logits, {x}, seed)[0];
  if (logits_out) *logits_out = logits.detach();
  return gradient;
}

Tensor first_layer_backward(const Classifier::Split& split, const Tensor& output_gradient,
                            const Tensor& like) {
  Tensor x = like.detach().set_requires_grad(true);
  const Tensor first = split.first(x);
  SALIENCY_CHECK(first.shape() == output_gradient.shape(), "the first layer's output ",
                 first.shape(), " does not match its gradient ", output_gradient.shape());
  return autograd::grad(first, {x}, output_gradient)[0];
}

void for_each_chunk(int64_t count, int64_t batch_size,
                    const std::function<void(int64_t, int64_t)>& fn) {
  SALIENCY_CHECK(batch_size >= 1, "batch size must be at least 1, got ", batch_size);
  if (count <= 0) return;
  // As few chunks as batch_size allows, of near-equal sizes: IG-50 in batches of 16 runs as
  // 13 + 13 + 12 + 12 rather than 16 + 16 + 16 + 2, whose last pass of 2 costs more per image
  // than the others, and whose peak memory is a fifth higher for the same work. The larger ones
  // first: the smaller chunks' tensors then fit in the blocks the allocator kept from them
  // (BlockCache::take), where smaller-first had made a second set (IG-50 in batches of 17 peaked
  // at 2.3 GB, 1.9 GB in batches of 25).
  const int64_t chunks = (count + batch_size - 1) / batch_size;
  const int64_t size = count / chunks, larger = count % chunks;  // `larger` chunks of size + 1
  for (int64_t c = 0, begin = 0; c < chunks; ++c) {
    const int64_t end = begin + size + (c < larger ? 1 : 0);
    fn(begin, end);
    begin = end;
  }
}

int64_t top_class(const Classifier& model, const Tensor& input) {
  autograd::NoGradGuard inference;
  const std::vector<double> logits = model(input).select_batch(0).to_vector();
  return std::max_element(logits.begin(), logits.end()) - logits.begin();
}

Explanation explain(const Classifier& model, const Tensor& input, Method method, int64_t target,
                    const MethodOptions& options) {
  SALIENCY_CHECK(input.rank() == 4 && input.size(0) == 1,
                 "explain: expected one image "
                 "[1, C, H, W], got ",
                 input.shape());
  Explanation result{method, target < 0 ? top_class(model, input) : target, {}};
  switch (method) {
    case Method::Vanilla:
    case Method::GradientXInput:
    case Method::GuidedBackprop:
    case Method::Deconvnet:
      result.attribution = methods::plain_gradient(model, input, result.target, method);
      break;
    case Method::SmoothGrad:
    case Method::SmoothGradSquared:
    case Method::VarGrad:
      result.attribution = methods::smoothgrad(model, input, result.target, method, options);
      break;
    case Method::IntegratedGradients:
      result.attribution =
          methods::integrated_gradients(model, input, result.target, options, &result.delta);
      break;
    case Method::GradCam:
      result.attribution = methods::gradcam(model, input, result.target, options);
      break;
    case Method::GuidedGradCam:
      result.attribution = methods::guided_gradcam(model, input, result.target, options);
      break;
    case Method::Lrp:
      result.attribution = methods::lrp(model, input, result.target, options.lrp);
      break;
    case Method::AttentionRollout:
      result.attribution = methods::rollout(model, input, options.rollout);
      break;
  }
  return result;
}

}  // namespace saliency
