// Training pieces against PyTorch: optimizer updates, and whole SGD steps of a ResNet in
// training mode (BatchNorm batch statistics, weight gradients, cross-entropy, momentum, decay).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "models/resnet.h"
#include "train/optimizer.h"
#include "training_steps.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

const std::string kTrainingFixtures = std::string(SALIENCY_FIXTURE_DIR) + "/training/";

Tensor run_optimizer(const std::string& name) {
  Tensor parameter = weights::read_npy(kTrainingFixtures + "optim_initial.npy");
  parameter.set_requires_grad(true);
  const Tensor grads = weights::read_npy(kTrainingFixtures + "optim_grads.npy");
  std::vector<train::ParameterSpec> specs{{"p", parameter, 0.0}};
  std::unique_ptr<train::Optimizer> optimizer;
  if (name == "sgd") {
    optimizer = std::make_unique<train::Sgd>(specs, 0.1);
  } else if (name == "sgd_momentum") {
    specs[0].weight_decay = 0.01;
    optimizer = std::make_unique<train::Sgd>(specs, 0.1,
                                             train::SgdOptions{.momentum = 0.9, .dampening = 0.1});
  } else if (name == "sgd_nesterov") {
    specs[0].weight_decay = 0.01;
    optimizer = std::make_unique<train::Sgd>(specs, 0.1,
                                             train::SgdOptions{.momentum = 0.9, .nesterov = true});
  } else if (name == "adam") {
    specs[0].weight_decay = 0.01;
    optimizer = std::make_unique<train::Adam>(specs, 0.01);
  } else {
    specs[0].weight_decay = 0.1;
    optimizer = std::make_unique<train::Adam>(specs, 0.01,
                                              train::AdamOptions{.decoupled_weight_decay = true});
  }
  for (int64_t step = 0; step < grads.size(0); ++step) {
    parameter.set_grad(select(grads, 0, step).clone());
    optimizer->step();
  }
  return parameter.detach();
}

class OptimizerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerParity, FourStepsMatchTorchOptim) {
  const Tensor expected = weights::read_npy(kTrainingFixtures + "optim_" + GetParam() + ".npy");
  const Tensor initial = weights::read_npy(kTrainingFixtures + "optim_initial.npy");
  const Tensor actual = run_optimizer(GetParam());
  // Both sides compute in float64: agreement to rounding.
  EXPECT_LT(testing::max_abs_difference(actual, expected), 1e-12);
  EXPECT_GT(testing::max_abs_difference(actual, initial), 1e-3);  // it did move
}

INSTANTIATE_TEST_SUITE_P(Training, OptimizerParity,
                         ::testing::Values("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw"));

TEST(Optimizer, StateRoundTripsForResumedTraining) {
  Tensor a = from_vector({2}, {1.0, -2.0}).set_requires_grad(true);
  Tensor b = from_vector({2}, {1.0, -2.0}).set_requires_grad(true);
  train::Adam first({{"w", a, 0.0}}, 0.1), second({{"w", b, 0.0}}, 0.1);
  for (Tensor* p : {&a, &b}) p->set_grad(from_vector({2}, {0.5, 0.25}));
  first.step();
  second.step();
  train::Adam resumed({{"w", b, 0.0}}, 0.1);
  resumed.load_state(second.state(), second.steps_taken());
  a.set_grad(from_vector({2}, {-1.0, 2.0}));
  b.set_grad(from_vector({2}, {-1.0, 2.0}));
  first.step();
  resumed.step();
  EXPECT_EQ(a.to_vector(), b.to_vector());
}

TEST(Optimizer, SgdMomentumStartsAtEachParametersFirstGradient) {
  // PyTorch sets a parameter's buffer to its first gradient (no dampening), even when other
  // parameters have been updated before.
  Tensor a = from_vector({1}, {0.0}).set_requires_grad(true);
  Tensor b = from_vector({1}, {0.0}).set_requires_grad(true);
  train::Sgd sgd({{"a", a, 0.0}, {"b", b, 0.0}}, 0.1,
                 train::SgdOptions{.momentum = 0.9, .dampening = 0.5});
  a.set_grad(from_vector({1}, {1.0}));
  sgd.step();  // b has no gradient yet
  sgd.zero_grad();
  b.set_grad(from_vector({1}, {2.0}));
  sgd.step();
  EXPECT_FLOAT_EQ(float(b.item()), -0.2f);  // dampened, it would be -0.1
  EXPECT_FLOAT_EQ(float(a.item()), -0.1f);  // no gradient on the second step: unchanged
}

TEST(Optimizer, DecaysOnlyWeightsWhenAsked) {
  const auto specs = train::decay_weights_only(
      {{"conv.weight", zeros({2, 2, 1, 1})}, {"bn.bias", zeros({2})}}, 0.5);
  EXPECT_EQ(specs[0].weight_decay, 0.5);
  EXPECT_EQ(specs[1].weight_decay, 0.0);
}

TEST(Optimizer, CosineScheduleWarmsUpThenDecaysToZero) {
  EXPECT_DOUBLE_EQ(train::cosine_learning_rate(1.0, 0, 100, 10), 0.1);
  EXPECT_DOUBLE_EQ(train::cosine_learning_rate(1.0, 9, 100, 10), 1.0);
  EXPECT_DOUBLE_EQ(train::cosine_learning_rate(1.0, 10, 100, 10), 1.0);
  EXPECT_NEAR(train::cosine_learning_rate(1.0, 55, 100, 10), 0.5, 1e-12);
  EXPECT_NEAR(train::cosine_learning_rate(1.0, 100, 100, 10), 0.0, 1e-12);
}

TEST(Training, TwoSgdStepsOfAResNetMatchPyTorch) {
  testing::expect_two_sgd_steps_match_pytorch(Device::cpu());
}

}  // namespace
}  // namespace saliency

namespace saliency::testing {

void expect_two_sgd_steps_match_pytorch(Device device) {
  const weights::TensorMap initial =
      weights::read_safetensors(kTrainingFixtures + "train_step_initial.safetensors");
  const weights::TensorMap expected =
      weights::read_safetensors(kTrainingFixtures + "train_step_final.safetensors");
  models::ResNetConfig config{
      .block = models::BlockKind::Basic, .layers = {1, 1, 1, 1}, .num_classes = 5, .base_width = 4};
  models::ResNet model(config);
  model.load_state_dict(initial, "train_step_initial");
  model.to(device);
  model.train();
  model.set_requires_grad(true);
  // PyTorch decayed every parameter: reproduce that grouping.
  std::vector<train::ParameterSpec> all;
  for (auto& [name, tensor] : model.named_parameters()) all.push_back({name, tensor, 1e-3});
  train::Sgd sgd(all, 0.05, train::SgdOptions{.momentum = 0.9});

  const Tensor images = weights::read_npy(kTrainingFixtures + "train_step_images.npy").to(device);
  std::vector<int64_t> targets;
  for (double t : weights::read_npy(kTrainingFixtures + "train_step_targets.npy").to_vector())
    targets.push_back(static_cast<int64_t>(t));
  const std::vector<double> losses =
      weights::read_npy(kTrainingFixtures + "train_step_losses.npy").to_vector();
  for (size_t step = 0; step < 2; ++step) {
    sgd.zero_grad();
    const Tensor loss = cross_entropy(model.forward(images), targets, 0.1);
    ASSERT_EQ(loss.device(), device);
    EXPECT_NEAR(loss.item(), losses[step], 1e-5 * std::abs(losses[step]));
    autograd::backward(loss);
    sgd.step();
  }
  // Every parameter and running statistic after two steps, within float32 accumulation error.
  for (const auto& [name, value] : model.state_dict()) {
    ASSERT_EQ(value.device(), device) << name;
    const Tensor on_host = value.to(Device::cpu());
    EXPECT_LT(max_relative_error(on_host, expected.at(name)), 2e-5) << name;
    EXPECT_GT(max_abs_difference(on_host, initial.at(name)), 0.0) << name << " unchanged";
  }
}

}  // namespace saliency::testing
