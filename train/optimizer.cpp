#include "train/optimizer.h"

#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/factory.h"

namespace saliency::train {

std::vector<ParameterSpec> decay_weights_only(
    const std::vector<std::pair<std::string, Tensor>>& named, double weight_decay) {
  std::vector<ParameterSpec> specs;
  for (const auto& [name, tensor] : named)
    specs.push_back({name, tensor, tensor.rank() > 1 ? weight_decay : 0.0});
  return specs;
}

Optimizer::Optimizer(std::vector<ParameterSpec> parameters, double learning_rate)
    : learning_rate_(learning_rate), parameters_(std::move(parameters)) {
  SALIENCY_CHECK(learning_rate >= 0, "optimizer: learning rate must be >= 0, got ", learning_rate);
  for (const ParameterSpec& p : parameters_) {
    SALIENCY_CHECK(p.tensor.defined() && p.tensor.requires_grad(), "optimizer: parameter '", p.name,
                   "' does not require grad");
    SALIENCY_CHECK(p.weight_decay >= 0, "optimizer: weight decay of '", p.name, "' must be >= 0");
  }
  slots_.resize(parameters_.size());
}

void Optimizer::step() {
  const size_t slot_count = slot_names().size();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const ParameterSpec& p = parameters_[i];
    const Tensor grad = p.tensor.grad();
    if (!grad.defined()) continue;
    const int64_t count = p.tensor.numel();
    const bool fresh_state = slots_[i].empty();
    if (fresh_state) slots_[i].assign(slot_count, std::vector<double>(count, 0.0));
    std::vector<double> value = p.tensor.to_vector();
    const std::vector<double> gradient = grad.to_vector();
    update(p, value.data(), gradient.data(), slots_[i], count, fresh_state);
    Tensor target = p.tensor;  // a handle: writes reach the model's parameter
    target.copy_from(from_vector(target.shape(), value, target.dtype()));
  }
  ++steps_;
}

void Optimizer::zero_grad() {
  for (ParameterSpec& p : parameters_) p.tensor.set_grad(Tensor());
}

std::map<std::string, Tensor> Optimizer::state() const {
  std::map<std::string, Tensor> state;
  const std::vector<std::string> names = slot_names();
  for (size_t i = 0; i < parameters_.size(); ++i)
    for (size_t s = 0; s < slots_[i].size(); ++s)
      state[parameters_[i].name + "." + names[s]] =
          from_vector(parameters_[i].tensor.shape(), slots_[i][s], DType::Float64);
  return state;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state, int64_t steps) {
  SALIENCY_CHECK(steps >= 0, "optimizer state: negative step count ", steps);
  const std::vector<std::string> names = slot_names();
  for (size_t i = 0; i < parameters_.size(); ++i) {
    std::vector<std::vector<double>> slots;
    for (const std::string& slot : names) {
      auto it = state.find(parameters_[i].name + "." + slot);
      if (it == state.end()) break;
      SALIENCY_CHECK(it->second.shape() == parameters_[i].tensor.shape(), "optimizer state '",
                     it->first, "' has shape ", it->second.shape(), ", the parameter ",
                     parameters_[i].tensor.shape());
      slots.push_back(it->second.to_vector());
    }
    SALIENCY_CHECK(slots.empty() || slots.size() == names.size(), "optimizer state for '",
                   parameters_[i].name, "' is incomplete");
    slots_[i] = std::move(slots);
  }
  steps_ = steps;
}

Sgd::Sgd(std::vector<ParameterSpec> parameters, double learning_rate, const SgdOptions& options)
    : Optimizer(std::move(parameters), learning_rate), options_(options) {
  SALIENCY_CHECK(options.momentum >= 0 && (!options.nesterov || options.momentum > 0),
                 "sgd: momentum must be >= 0 (and > 0 with Nesterov)");
}

std::vector<std::string> Sgd::slot_names() const {
  if (options_.momentum == 0) return {};
  return {"momentum_buffer"};
}

void Sgd::update(const ParameterSpec& parameter, double* value, const double* grad,
                 std::vector<std::vector<double>>& slots, int64_t count, bool fresh_state) {
  for (int64_t i = 0; i < count; ++i) {
    double g = grad[i] + parameter.weight_decay * value[i];
    if (options_.momentum != 0) {
      double& buffer = slots[0][i];
      buffer = fresh_state ? g : options_.momentum * buffer + (1 - options_.dampening) * g;
      g = options_.nesterov ? g + options_.momentum * buffer : buffer;
    }
    value[i] -= learning_rate_ * g;
  }
}

Adam::Adam(std::vector<ParameterSpec> parameters, double learning_rate, const AdamOptions& options)
    : Optimizer(std::move(parameters), learning_rate), options_(options) {
  SALIENCY_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 &&
                     options.beta2 < 1 && options.eps >= 0,
                 "adam: betas must be in [0, 1) and eps >= 0");
}

std::vector<std::string> Adam::slot_names() const {
  return {"exp_avg", "exp_avg_sq"};
}

void Adam::update(const ParameterSpec& parameter, double* value, const double* grad,
                  std::vector<std::vector<double>>& slots, int64_t count, bool) {
  const double t = double(steps_ + 1);
  const double correction1 = 1 - std::pow(options_.beta1, t);
  const double correction2 = 1 - std::pow(options_.beta2, t);
  const double step_size = learning_rate_ / correction1;
  for (int64_t i = 0; i < count; ++i) {
    double g = grad[i];
    if (options_.decoupled_weight_decay)
      value[i] *= 1 - learning_rate_ * parameter.weight_decay;
    else
      g += parameter.weight_decay * value[i];
    double& m = slots[0][i];
    double& v = slots[1][i];
    m = options_.beta1 * m + (1 - options_.beta1) * g;
    v = options_.beta2 * v + (1 - options_.beta2) * g * g;
    value[i] -= step_size * m / (std::sqrt(v) / std::sqrt(correction2) + options_.eps);
  }
}

double cosine_learning_rate(double base_rate, int64_t step, int64_t total_steps,
                            int64_t warmup_steps) {
  if (step < warmup_steps) return base_rate * double(step + 1) / double(warmup_steps);
  const int64_t decay_steps = std::max<int64_t>(total_steps - warmup_steps, 1);
  const double progress = std::min(1.0, double(step - warmup_steps) / double(decay_steps));
  return base_rate * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

}  // namespace saliency::train
