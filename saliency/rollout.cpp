#include "saliency/rollout.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/method_steps.h"

namespace saliency {
namespace {

using Matrix = std::vector<double>;  // T x T, row-major

Matrix fuse_heads(const Tensor& attention, const std::string& fusion) {
  const int64_t heads = attention.size(1), tokens = attention.size(2);
  const std::vector<double> values = attention.to_vector();
  Matrix fused(size_t(tokens * tokens), 0.0);
  for (int64_t i = 0; i < tokens * tokens; ++i) {
    double value = values[size_t(i)];
    for (int64_t h = 1; h < heads; ++h) {
      const double v = values[size_t(h * tokens * tokens + i)];
      if (fusion == "mean")
        value += v;
      else if (fusion == "max")
        value = std::max(value, v);
      else
        value = std::min(value, v);
    }
    fused[size_t(i)] = fusion == "mean" ? value / double(heads) : value;
  }
  return fused;
}

void discard_lowest(Matrix& fused, double ratio) {
  const auto count = static_cast<size_t>(double(fused.size()) * ratio);
  if (count == 0) return;
  std::vector<size_t> order(fused.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return fused[a] < fused[b]; });
  for (size_t i = 0; i < count; ++i)
    if (order[i] != 0) fused[order[i]] = 0.0;
}

}  // namespace

Tensor attention_rollout(const std::vector<Tensor>& attentions, const RolloutOptions& options) {
  SALIENCY_CHECK(!attentions.empty(), "attention rollout: no attention maps");
  SALIENCY_CHECK(options.fusion == "mean" || options.fusion == "max" || options.fusion == "min",
                 "attention rollout: unknown head fusion '", options.fusion,
                 "' (known: mean, max, min)");
  SALIENCY_CHECK(options.discard_ratio >= 0 && options.discard_ratio < 1,
                 "attention rollout: discard ratio ", options.discard_ratio, " outside [0, 1)");
  const Shape& shape = attentions.front().shape();
  SALIENCY_CHECK(shape.rank() == 4 && shape[0] == 1 && shape[2] == shape[3],
                 "attention rollout: expected attention [1, heads, T, T], got ", shape);
  const int64_t tokens = shape[2];
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(double(tokens - 1))));
  SALIENCY_CHECK(grid * grid + 1 == tokens, "attention rollout: ", tokens,
                 " tokens are not a class token plus a square grid");
  const size_t t = size_t(tokens);
  // The running product R = A_l ... A_1, in float64, by the engine's matmul.
  std::vector<double> identity(t * t, 0.0);
  for (size_t i = 0; i < t; ++i) identity[i * t + i] = 1.0;
  Tensor result = from_vector({tokens, tokens}, identity, DType::Float64);
  for (const Tensor& attention : attentions) {
    SALIENCY_CHECK(attention.shape() == shape, "attention rollout: layers differ in shape (", shape,
                   " and ", attention.shape(), ")");
    Matrix a = fuse_heads(attention, options.fusion);
    discard_lowest(a, options.discard_ratio);
    for (size_t i = 0; i < t; ++i) {
      a[i * t + i] += 1.0;
      double row = 0;
      for (size_t j = 0; j < t; ++j) row += a[i * t + j] / 2.0;
      for (size_t j = 0; j < t; ++j) a[i * t + j] = a[i * t + j] / 2.0 / row;
    }
    result = matmul(from_vector({tokens, tokens}, a, DType::Float64), result);
  }
  const std::vector<double> product = result.to_vector();
  std::vector<double> mask(product.begin() + 1, product.begin() + int64_t(t));
  const double peak = *std::max_element(mask.begin(), mask.end());
  if (peak > 0)
    for (double& v : mask) v /= peak;
  return from_vector({1, 1, grid, grid}, mask, attentions.front().dtype());
}

namespace methods {

Tensor rollout(const Classifier& model, const Tensor& input, const RolloutOptions& options) {
  std::vector<std::string> names = options.taps;
  if (names.empty())
    for (int i = 0; i < 64; ++i)
      names.push_back("encoder.layers.encoder_layer_" + std::to_string(i) + ".attention");
  autograd::TapScope taps(names);
  {
    autograd::NoGradGuard inference;
    model(input.detach());
  }
  std::vector<Tensor> attentions;
  for (const std::string& name : names)
    if (taps[name].has_value()) attentions.push_back(taps[name].value());
  SALIENCY_CHECK(!attentions.empty(),
                 "attention rollout: the model records no attention maps (tap points such as "
                 "encoder.layers.encoder_layer_0.attention); it needs a Vision Transformer");
  return attention_rollout(attentions, options);
}

}  // namespace methods
}  // namespace saliency
