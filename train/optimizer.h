#pragma once
// Optimizers that update parameters in place from their accumulated .grad(), with exactly
// PyTorch's update formulas (torch.optim.SGD, Adam, AdamW) so a training run can be compared
// step by step (tests/reference/make_training_fixtures.py).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace saliency::train {

// One parameter with its own weight decay (the usual recipe decays conv and linear weights
// but not BatchNorm parameters or biases; see decay_weights_only).
struct ParameterSpec {
  std::string name;
  Tensor tensor;
  double weight_decay = 0;
};

// Every parameter of `named`, decaying the multi-dimensional ones (weights) by weight_decay and
// leaving vectors (biases, BatchNorm scales and shifts) undecayed.
std::vector<ParameterSpec> decay_weights_only(
    const std::vector<std::pair<std::string, Tensor>>& named, double weight_decay);

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParameterSpec> parameters, double learning_rate);
  virtual ~Optimizer() = default;
  // Applies one update from each parameter's .grad() (parameters without one are skipped).
  void step();
  void zero_grad();  // drops every parameter's gradient
  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double rate) { learning_rate_ = rate; }
  int64_t steps_taken() const { return steps_; }

  // Per-parameter state ("<name>.<slot>" -> tensor) and the step count, for checkpoints.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state, int64_t steps);

 protected:
  // Updates `value` in place from `grad` (`count` elements); `slots` are this parameter's state
  // buffers, as many as slot_names(), zero-initialized when `fresh_state` (its first update
  // since the optimizer was made or its state loaded without this parameter).
  virtual void update(const ParameterSpec& parameter, double* value, const double* grad,
                      std::vector<std::vector<double>>& slots, int64_t count, bool fresh_state) = 0;
  virtual std::vector<std::string> slot_names() const = 0;

  double learning_rate_;
  int64_t steps_ = 0;  // completed steps; the update being applied is number steps_ + 1

 private:
  std::vector<ParameterSpec> parameters_;
  // slots_[parameter][slot]: float64 state, so long runs do not drift with rounding.
  std::vector<std::vector<std::vector<double>>> slots_;
};

struct SgdOptions {
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
};

// p -= lr * d, with g = grad + wd * p, b = momentum * b + (1 - dampening) * g (b = g on the
// parameter's first update, as PyTorch) and d = b, or g + momentum * b with Nesterov.
class Sgd final : public Optimizer {
 public:
  Sgd(std::vector<ParameterSpec> parameters, double learning_rate, const SgdOptions& options = {});

 private:
  void update(const ParameterSpec& parameter, double* value, const double* grad,
              std::vector<std::vector<double>>& slots, int64_t count, bool fresh_state) override;
  std::vector<std::string> slot_names() const override;
  SgdOptions options_;
};

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // false: Adam's L2 penalty (wd * p added to the gradient); true: AdamW's decoupled decay
  // (p *= 1 - lr * wd before the update).
  bool decoupled_weight_decay = false;
};

// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
class Adam final : public Optimizer {
 public:
  Adam(std::vector<ParameterSpec> parameters, double learning_rate,
       const AdamOptions& options = {});

 private:
  void update(const ParameterSpec& parameter, double* value, const double* grad,
              std::vector<std::vector<double>>& slots, int64_t count, bool fresh_state) override;
  std::vector<std::string> slot_names() const override;
  AdamOptions options_;
};

// Cosine decay from base_rate to 0 over total_steps after a linear warmup from 0.
double cosine_learning_rate(double base_rate, int64_t step, int64_t total_steps,
                            int64_t warmup_steps);

}  // namespace saliency::train
