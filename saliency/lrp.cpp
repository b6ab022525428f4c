#include "saliency/lrp.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"

namespace saliency {
namespace {

using autograd::InputMask;
using autograd::Node;
using autograd::OpKind;
using autograd::TensorList;

// --- elementwise pieces of the rules -------------------------------------------------------

Tensor positive_part(const Tensor& t) {
  return t.defined() ? relu(t) : Tensor();
}
Tensor negative_part(const Tensor& t) {
  return t.defined() ? sub(t, relu(t)) : Tensor();
}
Tensor ones_like_weight(const Tensor& w) {
  return ones(w.shape(), w.dtype()).to(w.device());
}

bool has_negative(const Tensor& t) {
  return dispatch_dtype(t.dtype(), [&]<typename T>() {
    return t.device().is_cuda() ? kernels::cuda::any_negative(t.numel(), t.device_data<T>())
                                : kernels::cpu::any_negative(t.numel(), t.data<T>());
  });
}

// relevance / (z + eps * sign(z)), sign(0) = +1 (Zennit's stabilizer). With a gate, only where
// the gate's sign is `gate_sign` (> 0 or < 0); zero elsewhere.
Tensor stabilized_ratio(const Tensor& relevance, const Tensor& z, double eps,
                        const Tensor* gate = nullptr, int gate_sign = 0) {
  SALIENCY_CHECK(relevance.shape() == z.shape(), "LRP: relevance ", relevance.shape(),
                 " does not match the layer output ", z.shape());
  Tensor out = Tensor::empty(z.shape(), z.dtype(), z.device());
  dispatch_dtype(z.dtype(), [&]<typename T>() {
    const T* g = gate ? gate->device_data<T>() : nullptr;
    if (z.device().is_cuda())
      kernels::cuda::stabilized_ratio(z.numel(), relevance.device_data<T>(), z.device_data<T>(),
                                      static_cast<T>(eps), g, gate_sign, out.device_data<T>());
    else
      kernels::cpu::stabilized_ratio(z.numel(), relevance.data<T>(), z.data<T>(),
                                     static_cast<T>(eps), g, gate_sign, out.data<T>());
  });
  return out;
}

// --- a convolution or fully connected layer as the affine map z = W x + b ------------------

class AffineLayer {
 public:
  explicit AffineLayer(const Node& node) : node_(node) {
    if (node.kind() == OpKind::Conv2d)
      conv_ = &autograd::node_as<autograd::Conv2dNode>(node);
    else
      linear_ = &autograd::node_as<autograd::LinearNode>(node);
    SALIENCY_CHECK(input().defined(), "LRP: the ", node.name(),
                   " layer's saved tensors were released (a second backward pass?)");
  }
  const Tensor& input() const { return conv_ ? conv_->input() : linear_->input(); }
  const Tensor& weight() const { return conv_ ? conv_->weight() : linear_->weight(); }
  const Tensor& bias() const { return conv_ ? conv_->bias() : linear_->bias(); }
  bool is_convolution() const { return conv_ != nullptr; }
  // The layer that reads the image: its input is a leaf of the graph (seen through the copy
  // to the GPU when the model runs there).
  bool reads_input() const {
    const autograd::Edge* edge = &node_.inputs()[0];
    while (edge->valid() && edge->node->kind() == OpKind::ToDevice) edge = &edge->node->inputs()[0];
    return edge->valid() && edge->node->kind() == OpKind::AccumulateGrad;
  }
  // Whether the graph shows the input is a ReLU's output (perhaps pooled or reshaped since):
  // then it has no negative entry, and no pass over it needs to look.
  bool input_is_non_negative() const {
    const autograd::Edge* edge = &node_.inputs()[0];
    while (edge->valid()) {
      switch (edge->node->kind()) {
        case OpKind::Relu:
          return true;
        case OpKind::MaxPool2d:
        case OpKind::AvgPool2d:
        case OpKind::AdaptiveAvgPool2d:
        case OpKind::Reshape:
        case OpKind::ToDevice:
          edge = &edge->node->inputs()[0];
          break;
        default:
          return false;
      }
    }
    return false;
  }

  // A weight the layer's map is applied with, and where its kernels' copies are kept (null: the
  // kernels read the weight itself).
  struct Weight {
    Tensor tensor;
    std::shared_ptr<WeightCopies> copies;
  };
  Weight own_weight() const { return {weight(), conv_ ? conv_->weight_copies() : nullptr}; }
  // derive(W), e.g. W+, kept by the layer from pass to pass where it keeps its weight's copies (an
  // nn::Conv2d: WeightCopies::derived), else made for this pass.
  Weight derived_weight(std::string_view name, Tensor (*derive)(const Tensor&)) const {
    const std::shared_ptr<WeightCopies> copies = conv_ ? conv_->weight_copies() : nullptr;
    if (!copies) return {derive(weight()), nullptr};
    WeightCopies::Derived kept = copies->derived(weight(), name, derive);
    return {std::move(kept.weight), std::move(kept.copies)};
  }
  Tensor apply(const Tensor& x, const Weight& w, const Tensor& b) const {
    if (!conv_) return linear(x, w.tensor, b);
    Conv2dOptions options = conv_->options();
    options.weight_copies = w.copies;
    return conv2d(x, w.tensor, b, options);
  }
  // W^T s, shaped like the input.
  Tensor transpose(const Tensor& s, const Weight& w) const {
    if (!conv_) return linear_input_gradient(s, w.tensor);
    const WeightCopies::Copy copy =
        w.copies ? w.copies->of(w.tensor, conv_->geometry(), kernels::cpu::ConvPass::backward_input)
                 : WeightCopies::Copy{};
    return conv2d_input_gradient(s, w.tensor, conv_->geometry(), {}, {}, copy);
  }

 private:
  const Node& node_;
  const autograd::Conv2dNode* conv_ = nullptr;
  const autograd::LinearNode* linear_ = nullptr;
};

// --- the layer rules -----------------------------------------------------------------------

Tensor epsilon_relevance(const AffineLayer& layer, const Tensor& relevance, double eps) {
  const Tensor& x = layer.input();
  const AffineLayer::Weight w = layer.own_weight();
  const Tensor z = layer.apply(x, w, layer.bias());
  return mul(x, layer.transpose(stabilized_ratio(relevance, z, eps), w));
}

// The share of the relevance through contributions x+ * w_pos + x- * w_neg (+ b), as in the
// alpha-beta and gamma rules: x+ (x-) are the positive (negative) inputs. Terms of an input
// without negative entries are exact zeros and are skipped.
struct SignedInputs {
  Tensor positive, negative;  // negative undefined when the input has no negative entry
  explicit SignedInputs(const AffineLayer& layer) {
    // After a ReLU (most layers) the input is its own positive part: no copy.
    const Tensor& x = layer.input();
    const bool mixed = !layer.input_is_non_negative() && has_negative(x);
    positive = mixed ? positive_part(x) : x;
    if (mixed) negative = negative_part(x);
  }
};

using Weight = AffineLayer::Weight;

Tensor signed_output(const AffineLayer& layer, const SignedInputs& x, const Weight& w_pos,
                     const Tensor& bias, const Weight& w_neg) {
  Tensor z = layer.apply(x.positive, w_pos, bias);
  if (x.negative.defined()) z = add(z, layer.apply(x.negative, w_neg, {}));
  return z;
}

Tensor signed_redistribution(const AffineLayer& layer, const SignedInputs& x, const Weight& w_pos,
                             const Weight& w_neg, const Tensor& ratio) {
  Tensor r = mul(x.positive, layer.transpose(ratio, w_pos));
  if (x.negative.defined()) r = add(r, mul(x.negative, layer.transpose(ratio, w_neg)));
  return r;
}

Tensor alpha_beta_relevance(const AffineLayer& layer, const Tensor& relevance, double alpha,
                            double beta, double eps) {
  const SignedInputs x(layer);
  // z+ on a ReLU's output (most layers) needs W+ only; W- and b- are built when used.
  const Weight w_plus = layer.derived_weight("positive", positive_part);
  const Weight w_minus = x.negative.defined() || beta != 0.0
                             ? layer.derived_weight("negative", negative_part)
                             : Weight{};
  const Tensor b_plus = positive_part(layer.bias());
  const Tensor b_minus = beta != 0.0 ? negative_part(layer.bias()) : Tensor();
  auto share = [&](const Weight& w_pos, const Tensor& bias, const Weight& w_neg) {
    const Tensor z = signed_output(layer, x, w_pos, bias, w_neg);
    return signed_redistribution(layer, x, w_pos, w_neg, stabilized_ratio(relevance, z, eps));
  };
  Tensor result = share(w_plus, b_plus, w_minus);
  if (alpha != 1.0) result = mul_scalar(result, alpha);
  if (beta != 0.0) result = sub(result, mul_scalar(share(w_minus, b_minus, w_plus), beta));
  return result;
}

// Zennit's generalized gamma rule: outputs z > 0 are explained by the contributions that push
// them up (x+ with W + gamma W+, x- with W + gamma W-), outputs z < 0 by those that push down.
Tensor gamma_relevance(const AffineLayer& layer, const Tensor& relevance, double gamma,
                       double eps) {
  const SignedInputs x(layer);
  const Tensor& w = layer.weight();
  const Tensor& b = layer.bias();
  // Made per pass: gamma is the rule's parameter, not the layer's.
  const Weight w_up{add(w, mul_scalar(positive_part(w), gamma)), nullptr};
  const Weight w_down{add(w, mul_scalar(negative_part(w), gamma)), nullptr};
  const Tensor b_up = b.defined() ? add(b, mul_scalar(positive_part(b), gamma)) : Tensor();
  const Tensor b_down = b.defined() ? add(b, mul_scalar(negative_part(b), gamma)) : Tensor();
  const Tensor z = layer.apply(layer.input(), layer.own_weight(), b);
  const Tensor up =
      stabilized_ratio(relevance, signed_output(layer, x, w_up, b_up, w_down), eps, &z, +1);
  const Tensor down =
      stabilized_ratio(relevance, signed_output(layer, x, w_down, b_down, w_up), eps, &z, -1);
  return add(signed_redistribution(layer, x, w_up, w_down, up),
             signed_redistribution(layer, x, w_down, w_up, down));
}

// Flat and w-square ignore the input's values: z is computed from an all-ones input.
Tensor input_free_relevance(const AffineLayer& layer, const Tensor& relevance, const Weight& w,
                            const Tensor& b, double eps) {
  const Tensor& like = w.tensor;
  const Tensor z = layer.apply(ones(layer.input().shape(), like.dtype()).to(like.device()), w, b);
  return layer.transpose(stabilized_ratio(relevance, z, eps), w);
}

// Per-channel bounds broadcast to the input's shape.
Tensor channel_bounds(const Tensor& input, const std::vector<double>& values, const char* what) {
  const int64_t channels = input.rank() >= 2 ? input.size(1) : 1;
  SALIENCY_CHECK(values.size() == 1 || int64_t(values.size()) == channels,
                 "LRP z-box: ", values.size(), " ", what, " bounds for an input with ", channels,
                 " channels");
  Tensor out = Tensor::empty(input.shape(), input.dtype());
  const int64_t per_channel = input.rank() > 2 ? input.numel() / (input.size(0) * channels) : 1;
  dispatch_dtype(out.dtype(), [&]<typename T>() {
    T* o = out.data<T>();
    const int64_t count = out.numel();
    for (int64_t i = 0; i < count; ++i) {
      const size_t c = values.size() == 1 ? 0 : size_t((i / per_channel) % channels);
      o[i] = static_cast<T>(values[c]);
    }
  });
  return out.to(input.device());
}

Tensor z_box_relevance(const AffineLayer& layer, const Tensor& relevance, const LrpRule& rule) {
  SALIENCY_CHECK(!rule.low.empty() && !rule.high.empty(), "LRP z-box: no input bounds given");
  const Tensor& x = layer.input();
  const Tensor low = channel_bounds(x, rule.low, "low");
  const Tensor high = channel_bounds(x, rule.high, "high");
  const Weight w = layer.own_weight();
  const Weight w_plus = layer.derived_weight("positive", positive_part);
  const Weight w_minus = layer.derived_weight("negative", negative_part);
  const Tensor z = sub(
      sub(layer.apply(x, w, layer.bias()), layer.apply(low, w_plus, positive_part(layer.bias()))),
      layer.apply(high, w_minus, negative_part(layer.bias())));
  const Tensor s = stabilized_ratio(relevance, z, rule.epsilon);
  return sub(sub(mul(x, layer.transpose(s, w)), mul(low, layer.transpose(s, w_plus))),
             mul(high, layer.transpose(s, w_minus)));
}

Tensor layer_relevance(const AffineLayer& layer, const Tensor& relevance, const LrpRule& rule) {
  switch (rule.kind) {
    case LrpRule::Kind::Epsilon:
      return epsilon_relevance(layer, relevance, rule.epsilon);
    case LrpRule::Kind::ZPlus:
      return alpha_beta_relevance(layer, relevance, 1.0, 0.0, rule.epsilon);
    case LrpRule::Kind::AlphaBeta:
      return alpha_beta_relevance(layer, relevance, rule.alpha, rule.beta, rule.epsilon);
    case LrpRule::Kind::Gamma:
      return gamma_relevance(layer, relevance, rule.gamma, rule.epsilon);
    case LrpRule::Kind::Flat:
      return input_free_relevance(layer, relevance, layer.derived_weight("ones", ones_like_weight),
                                  {}, rule.epsilon);
    case LrpRule::Kind::WSquare: {
      const Tensor& b = layer.bias();
      return input_free_relevance(layer, relevance, layer.derived_weight("square", square),
                                  b.defined() ? square(b) : Tensor(), rule.epsilon);
    }
    case LrpRule::Kind::ZBox:
      return z_box_relevance(layer, relevance, rule);
  }
  throw InvalidArgument("LRP: unknown rule");
}

// --- rules of parameter-free ops -----------------------------------------------------------

// Norm: each input keeps its share of the sum it went into.
TensorList norm_add(const Node& node, const Tensor& relevance, double eps) {
  const auto& add_node = autograd::node_as<autograd::BinaryNode>(node);
  SALIENCY_CHECK(add_node.a().defined() && add_node.b().defined(),
                 "LRP: an addition did not keep its inputs; run the forward pass under "
                 "autograd::SaveForRulesGuard");
  const Tensor& a = add_node.a();
  const Tensor& b = add_node.b();
  if (a.shape() == b.shape() && a.shape() == relevance.shape() && a.dtype() == b.dtype() &&
      a.device() == b.device()) {
    // A residual connection: one pass instead of an add, a ratio and two products.
    Tensor share_a = Tensor::empty(a.shape(), a.dtype(), a.device());
    Tensor share_b = Tensor::empty(a.shape(), a.dtype(), a.device());
    dispatch_dtype(a.dtype(), [&]<typename T>() {
      const auto run = [&](auto kernel) {
        kernel(a.numel(), a.device_data<T>(), b.device_data<T>(), relevance.device_data<T>(),
               static_cast<T>(eps), share_a.device_data<T>(), share_b.device_data<T>());
      };
      if (a.device().is_cuda())
        run(kernels::cuda::sum_shares<T>);
      else
        run(kernels::cpu::sum_shares<T>);
    });
    return {share_a, share_b};
  }
  const Tensor ratio = stabilized_ratio(relevance, add(a, b), eps);
  return {sum_to_shape(mul(a, ratio), add_node.a_shape()),
          sum_to_shape(mul(b, ratio), add_node.b_shape())};
}

TensorList norm_pool(const Node& node, const Tensor& relevance, double eps) {
  const auto& pool = autograd::node_as<autograd::AvgPoolNode>(node);
  SALIENCY_CHECK(pool.input().defined(),
                 "LRP: an average pool did not keep its input; run the forward pass under "
                 "autograd::SaveForRulesGuard");
  const Tensor ratio = stabilized_ratio(relevance, pool.output(), eps);
  return {mul(pool.input(), pool.default_backward(ratio, {true})[0])};
}

LrpRule rule_of(LrpRule::Kind kind, double epsilon) {
  LrpRule rule;
  rule.kind = kind;
  rule.epsilon = epsilon;
  return rule;
}

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

LrpRule LrpRule::epsilon_rule(double epsilon) {
  return rule_of(Kind::Epsilon, epsilon);
}
LrpRule LrpRule::zplus(double stabilizer) {
  return rule_of(Kind::ZPlus, stabilizer);
}
LrpRule LrpRule::alpha_beta(double alpha, double beta, double stabilizer) {
  SALIENCY_CHECK(alpha >= 0 && beta >= 0 && std::abs(alpha - beta - 1.0) < 1e-12,
                 "LRP alpha-beta: alpha and beta must be non-negative with alpha - beta = 1, got ",
                 alpha, " and ", beta);
  LrpRule rule = rule_of(Kind::AlphaBeta, stabilizer);
  rule.alpha = alpha;
  rule.beta = beta;
  return rule;
}
LrpRule LrpRule::gamma_rule(double gamma, double stabilizer) {
  SALIENCY_CHECK(gamma >= 0, "LRP gamma must be non-negative, got ", gamma);
  LrpRule rule = rule_of(Kind::Gamma, stabilizer);
  rule.gamma = gamma;
  return rule;
}
LrpRule LrpRule::flat(double stabilizer) {
  return rule_of(Kind::Flat, stabilizer);
}
LrpRule LrpRule::w_square(double stabilizer) {
  return rule_of(Kind::WSquare, stabilizer);
}
LrpRule LrpRule::z_box(std::vector<double> low, std::vector<double> high, double stabilizer) {
  SALIENCY_CHECK(!low.empty() && low.size() == high.size(),
                 "LRP z-box: low and high need one value per channel, got ", low.size(), " and ",
                 high.size());
  for (size_t c = 0; c < low.size(); ++c)
    SALIENCY_CHECK(low[c] <= high[c], "LRP z-box: low ", low[c], " above high ", high[c],
                   " in channel ", c);
  LrpRule rule = rule_of(Kind::ZBox, stabilizer);
  rule.low = std::move(low);
  rule.high = std::move(high);
  return rule;
}

std::string LrpRule::describe() const {
  switch (kind) {
    case Kind::Epsilon:
      return "epsilon(" + number(epsilon) + ")";
    case Kind::ZPlus:
      return "z-plus";
    case Kind::AlphaBeta:
      return "alpha-beta(" + number(alpha) + ", " + number(beta) + ")";
    case Kind::Gamma:
      return "gamma(" + number(gamma) + ")";
    case Kind::Flat:
      return "flat";
    case Kind::WSquare:
      return "w-square";
    case Kind::ZBox:
      return "z-box";
  }
  return "unknown";
}

LrpComposite LrpComposite::epsilon_plus_flat(double epsilon, double stabilizer) {
  return {.name = "epsilon-plus-flat",
          .first_layer = LrpRule::flat(stabilizer),
          .convolution = LrpRule::zplus(stabilizer),
          .linear = LrpRule::epsilon_rule(epsilon),
          .stabilizer = stabilizer};
}

LrpComposite LrpComposite::epsilon_gamma_box(std::vector<double> low, std::vector<double> high,
                                             double epsilon, double gamma, double stabilizer) {
  return {.name = "epsilon-gamma-box",
          .first_layer = LrpRule::z_box(std::move(low), std::move(high), stabilizer),
          .convolution = LrpRule::gamma_rule(gamma, stabilizer),
          .linear = LrpRule::epsilon_rule(epsilon),
          .stabilizer = stabilizer};
}

autograd::RuleSet lrp_rules(const LrpComposite& composite) {
  autograd::RuleSet rules("lrp-" + composite.name);
  auto affine = [composite](const Node& node, const Tensor& relevance, const InputMask&) {
    const AffineLayer layer(node);
    const LrpRule& rule = layer.reads_input()      ? composite.first_layer
                          : layer.is_convolution() ? composite.convolution
                                                   : composite.linear;
    TensorList grads(node.inputs().size());
    grads[0] = layer_relevance(layer, relevance, rule);
    return grads;
  };
  rules.set(OpKind::Conv2d, affine);
  rules.set(OpKind::Linear, affine);
  rules.set(OpKind::Relu, [](const Node&, const Tensor& relevance, const InputMask&) {
    return TensorList{relevance};
  });
  const double eps = composite.stabilizer;
  rules.set(OpKind::Add, [eps](const Node& node, const Tensor& relevance, const InputMask&) {
    return norm_add(node, relevance, eps);
  });
  for (OpKind pool : {OpKind::AvgPool2d, OpKind::AdaptiveAvgPool2d})
    rules.set(pool, [eps](const Node& node, const Tensor& relevance, const InputMask&) {
      return norm_pool(node, relevance, eps);
    });
  rules.set(OpKind::BatchNorm2d, [](const Node&, const Tensor&, const InputMask&) -> TensorList {
    throw InvalidArgument(
        "LRP needs BatchNorm folded into the convolution before it (canonization): "
        "call models::ResNet::fold_batch_norm() first");
  });
  return rules;
}

void normalized_input_bounds(const std::vector<double>& mean, const std::vector<double>& stdev,
                             std::vector<double>& low, std::vector<double>& high) {
  SALIENCY_CHECK(mean.size() == stdev.size() && !mean.empty(),
                 "normalized_input_bounds: ", mean.size(), " means and ", stdev.size(),
                 " standard deviations");
  low.resize(mean.size());
  high.resize(mean.size());
  for (size_t c = 0; c < mean.size(); ++c) {
    SALIENCY_CHECK(stdev[c] > 0, "normalized_input_bounds: standard deviation ", stdev[c],
                   " must be positive");
    low[c] = (0.0 - mean[c]) / stdev[c];
    high[c] = (1.0 - mean[c]) / stdev[c];
  }
}

}  // namespace saliency
