// `saliency check`: proves the build works end to end without any model file. A small seeded
// convolutional network (conv, batch norm, relu, max pool, residual add, global average pool,
// linear) runs forward; the input gradient of the top logit is computed by the engine and
// compared with central finite differences in float64.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/rules.h"
#include "core/factory.h"
#include "kernels/cpu/parallel.h"
#include "saliency/relu_rules.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

struct TinyNet {
  Tensor conv1, bn_weight, bn_bias, bn_mean, bn_var, conv2, fc_weight, fc_bias;

  static TinyNet seeded(uint64_t seed) {
    Generator gen(seed);
    auto scaled = [&](Shape shape, double scale) {
      return mul_scalar(randn(shape, gen, DType::Float64), scale);
    };
    return {scaled({8, 3, 3, 3}, 0.3),
            add_scalar(scaled({8}, 0.1), 1.0),
            scaled({8}, 0.1),
            scaled({8}, 0.1),
            add_scalar(rand({8}, gen, DType::Float64), 0.5),
            scaled({8, 8, 3, 3}, 0.15),
            scaled({10, 8}, 0.3),
            scaled({10}, 0.1)};
  }

  TinyNet to(DType dtype) const {
    return {conv1.to(dtype),  bn_weight.to(dtype), bn_bias.to(dtype),   bn_mean.to(dtype),
            bn_var.to(dtype), conv2.to(dtype),     fc_weight.to(dtype), fc_bias.to(dtype)};
  }

  Tensor forward(const Tensor& x) const {
    Tensor h = conv2d(x, conv1, {}, {.padding = 1});
    h = relu(batch_norm2d(h, bn_weight, bn_bias, bn_mean, bn_var));
    h = max_pool2d(h, {.kernel = 3, .stride = 2, .padding = 1});
    h = relu(add(h, conv2d(h, conv2, {}, {.padding = 1})));  // a residual block
    h = flatten(adaptive_avg_pool2d(h, 1));
    return linear(h, fc_weight, fc_bias);
  }
};

int64_t argmax(const Tensor& row) {
  const std::vector<double> values = row.to_vector();
  return std::max_element(values.begin(), values.end()) - values.begin();
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// Largest relative error between `exact` and central differences at a few input positions.
double finite_difference_error(const TinyNet& net, const Tensor& image, int64_t target,
                               const Tensor& exact) {
  autograd::NoGradGuard no_grad;
  double worst = 0;
  for (int probe = 0; probe < 8; ++probe) {
    const int64_t c = probe % 3, y = (probe * 7) % 24, x = (probe * 5) % 20;
    const double eps = 1e-6, saved = image.at({0, c, y, x});
    Tensor shifted = image.clone();
    shifted.set({0, c, y, x}, saved + eps);
    const double up = net.forward(shifted).at({0, target});
    shifted.set({0, c, y, x}, saved - eps);
    const double down = net.forward(shifted).at({0, target});
    const double numeric = (up - down) / (2 * eps);
    worst = std::max(
        worst, std::abs(numeric - exact.at({0, c, y, x})) / std::max(1e-3, std::abs(numeric)));
  }
  return worst;
}

int run_check(uint64_t seed, int threads) {
  if (threads > 0) kernels::cpu::set_num_threads(threads);
  const TinyNet net64 = TinyNet::seeded(seed);
  const TinyNet net32 = net64.to(DType::Float32);
  Generator gen(seed + 1);
  const Tensor image64 = randn({1, 3, 24, 20}, gen, DType::Float64);

  const auto start = std::chrono::steady_clock::now();
  Tensor image32 = image64.to(DType::Float32).set_requires_grad(true);
  const Tensor logits = net32.forward(image32);
  const int64_t target = argmax(logits.select_batch(0));
  autograd::backward(select(logits, 1, target), ones({1}));
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  Tensor image = image64.clone().set_requires_grad(true);
  autograd::backward(select(net64.forward(image), 1, target), ones({1}, DType::Float64));
  const Tensor exact = image.grad();
  const double worst_fd = finite_difference_error(net64, image64, target, exact);
  const double worst_f32 = max_abs(sub(image32.grad().to(DType::Float64), exact)) / max_abs(exact);

  Tensor guided_image = image64.to(DType::Float32).set_requires_grad(true);
  {
    autograd::RuleScope guided(guided_backprop_rules());
    autograd::backward(select(net32.forward(guided_image), 1, target), ones({1}));
  }

  std::printf("tiny network: input [1, 3, 24, 20], 10 classes, top class %lld (logit %.5f)\n",
              static_cast<long long>(target), logits.at({0, target}));
  std::printf("forward + input gradient (float32): %.2f ms on %d threads\n", ms,
              kernels::cpu::num_threads());
  std::printf("input gradient vs finite differences (float64): max relative error %.2e\n",
              worst_fd);
  std::printf("float32 gradient vs float64 gradient: max relative error %.2e\n", worst_f32);
  std::printf("guided backprop: max |gradient| %.5f (vanilla %.5f)\n", max_abs(guided_image.grad()),
              max_abs(image32.grad()));
  const bool ok = worst_fd < 1e-6 && worst_f32 < 1e-4;
  std::printf("%s\n", ok ? "check passed" : "CHECK FAILED");
  return ok ? 0 : 1;
}

}  // namespace

Command add_check_command(CLI::App& app) {
  auto* command = app.add_subcommand(
      "check",
      "Run a tiny seeded network forward and backward and verify the input gradient "
      "against finite differences (needs no model file)");
  auto seed = std::make_shared<uint64_t>(7);
  auto threads = std::make_shared<int>(0);
  command->add_option("--seed", *seed, "Seed for the network weights and the input")
      ->capture_default_str();
  command->add_option("--threads", *threads, "CPU threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  return [seed, threads] { return run_check(*seed, *threads); };
}

}  // namespace saliency::cli
