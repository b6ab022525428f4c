// ResNet against PyTorch: tiny torchvision-layout models with seeded weights (written by
// tests/reference/make_fixtures.py) give the same logits, input gradients and layer4
// activations and gradients; full-size configurations have torchvision's parameter names and
// counts.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "models/resnet.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/" + name;
}

struct TinyCase {
  const char* name;
  models::ResNetConfig config;
};

// Our float32 results against PyTorch's float64 ones. Both float32 implementations round
// differently (im2col + GEMM vs oneDNN), so the right scale for our error is PyTorch's own
// float32-vs-float64 error, which the fixture script measured and saved (3e-7 to 7e-7 here).
// Allowed: 10x that, with a floor of 1e-6 (about 8 float32 ulps) where PyTorch's is exactly 0.
// Any wrong op, layout or BatchNorm detail shows up as O(1).
double tolerance(const std::vector<double>& torch_errors, size_t output) {
  return std::max(10 * torch_errors[output], 1e-6);
}

// With BatchNorm folded into the convs (unfolded and folded), the model must meet the same
// tolerances: folding is exact up to float32 rounding.
class TinyResNetParity : public ::testing::TestWithParam<std::tuple<TinyCase, bool>> {};

TEST_P(TinyResNetParity, LogitsGradientsAndTapsMatchPyTorchFloat64) {
  const auto& [c, folded] = GetParam();
  const std::string base = fixture(c.name);
  models::ResNet model(c.config);
  model.load_state_dict(weights::read_safetensors(base + ".safetensors"), c.name);
  if (folded) model.fold_batch_norm();
  Tensor image = weights::read_npy(fixture("resnet_input.npy")).set_requires_grad(true);
  autograd::TapScope taps({"layer4"});
  const Tensor logits = model.forward(image);

  // Seed each image's top logit, as the fixture script did.
  Tensor seed = zeros(logits.shape());
  for (int64_t n = 0; n < logits.size(0); ++n) {
    const std::vector<double> row = logits.select_batch(n).to_vector();
    seed.set({n, std::max_element(row.begin(), row.end()) - row.begin()}, 1.0);
  }
  autograd::backward(logits, seed);

  const std::vector<double> torch_errors =
      weights::read_npy(base + "_torch_float32_error.npy").to_vector();
  const std::pair<const char*, Tensor> outputs[] = {{"logits", logits},
                                                    {"input_grad", image.grad()},
                                                    {"layer4", taps["layer4"].value()},
                                                    {"layer4_grad", taps["layer4"].grad()}};
  for (size_t i = 0; i < 4; ++i) {
    const double error = testing::max_relative_error(
        outputs[i].second, weights::read_npy(base + "_" + outputs[i].first + ".npy"));
    EXPECT_LE(error, tolerance(torch_errors, i)) << outputs[i].first;
    std::printf("%s%s %s: relative error %.1e (PyTorch float32: %.1e)\n", c.name,
                folded ? " (BN folded)" : "", outputs[i].first, error, torch_errors[i]);
  }
}

models::ResNetConfig tiny(models::BlockKind block, std::array<int64_t, 4> layers, int64_t base) {
  return {.block = block, .layers = layers, .num_classes = 10, .base_width = base};
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, TinyResNetParity,
    ::testing::Combine(::testing::Values(TinyCase{"tiny_resnet18",
                                                  tiny(models::BlockKind::Basic, {2, 2, 2, 2}, 4)},
                                         TinyCase{
                                             "tiny_resnet50",
                                             tiny(models::BlockKind::Bottleneck, {3, 4, 6, 3}, 4)}),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<TinyCase, bool>>& param_info) {
      return std::string(std::get<0>(param_info.param).name) +
             (std::get<1>(param_info.param) ? "_bn_folded" : "");
    });

void PrintTo(const TinyCase& c, std::ostream* out) {
  *out << c.name;
}

int64_t parameter_count(const models::ResNet& model) {
  int64_t count = 0;
  for (const auto& [name, tensor] : model.named_parameters()) count += tensor.numel();
  return count;
}

// torchvision: resnet18 11,689,512 and resnet50 25,557,032 parameters.
TEST(ResNet, FullSizeConfigurationsMatchTorchvision) {
  const models::ResNet r18(models::ResNetConfig::named("resnet18"));
  EXPECT_EQ(parameter_count(r18), 11689512);
  const models::ResNet r50(models::ResNetConfig::named("resnet50"));
  EXPECT_EQ(parameter_count(r50), 25557032);
  const nn::StateDict state = r50.state_dict();
  // torchvision's state_dict has 320 keys: these 267 plus 53 BatchNorm num_batches_tracked.
  EXPECT_EQ(state.size(), 267u);
  for (const char* key : {"conv1.weight", "bn1.running_var", "layer3.4.conv2.weight",
                          "layer1.0.downsample.1.bias", "layer4.2.bn3.running_mean", "fc.weight"})
    EXPECT_TRUE(state.count(key)) << key;
  EXPECT_EQ(state.at("layer4.0.downsample.0.weight").shape(), (Shape{2048, 1024, 1, 1}));
  EXPECT_THROW(models::ResNetConfig::named("resnet51"), InvalidArgument);
}

TEST(ResNet, LoadingRefusesWrongKeysAndShapes) {
  models::ResNet model(tiny(models::BlockKind::Basic, {2, 2, 2, 2}, 4));
  nn::StateDict state = weights::read_safetensors(fixture("tiny_resnet18.safetensors"));
  nn::StateDict missing = state;
  missing.erase("layer1.0.bn2.bias");
  EXPECT_THROW(model.load_state_dict(missing, "x.safetensors"), InvalidArgument);
  nn::StateDict extra = state;
  extra.emplace("layer9.weight", zeros({1}));
  EXPECT_THROW(model.load_state_dict(extra, "x.safetensors"), InvalidArgument);
  nn::StateDict wrong = state;
  wrong["fc.weight"] = zeros({11, 32});
  try {
    model.load_state_dict(wrong, "x.safetensors");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(),
                 "x.safetensors: key 'fc.weight' has shape [11, 32], the model expects "
                 "[10, 32]");
  }
  nn::StateDict with_counter = state;
  with_counter.emplace("bn1.num_batches_tracked", zeros({}));
  model.load_state_dict(with_counter, "x.safetensors");  // PyTorch's BN counters are skipped
}

TEST(ResNet, FoldingReplacesBatchNormByConvBias) {
  models::ResNet model(tiny(models::BlockKind::Bottleneck, {3, 4, 6, 3}, 4));
  model.load_state_dict(weights::read_safetensors(fixture("tiny_resnet50.safetensors")));
  model.fold_batch_norm();
  const nn::StateDict state = model.state_dict();
  EXPECT_TRUE(state.count("conv1.bias"));
  EXPECT_TRUE(state.count("layer2.0.downsample.0.bias"));
  EXPECT_TRUE(state.count("layer4.2.conv3.bias"));
  const auto& bn = dynamic_cast<const nn::BatchNorm2d&>(model.child("layer1.0.bn2"));
  EXPECT_TRUE(bn.folded());
  // Folding again (explain folds for inference, LRP canonizes) leaves the model as it is.
  const std::vector<double> weight = state.at("layer4.2.conv3.weight").to_vector(),
                            bias = state.at("layer4.2.conv3.bias").to_vector();
  model.fold_batch_norm();
  model.fold_for_inference();
  EXPECT_EQ(model.state_dict().at("layer4.2.conv3.weight").to_vector(), weight);
  EXPECT_EQ(model.state_dict().at("layer4.2.conv3.bias").to_vector(), bias);
  model.train();
  EXPECT_THROW(model.forward(zeros({1, 3, 32, 32})), InvalidArgument);
}

TEST(ResNet, SeededInitializationIsReproducible) {
  models::ResNet a(tiny(models::BlockKind::Bottleneck, {1, 1, 1, 1}, 4));
  models::ResNet b(tiny(models::BlockKind::Bottleneck, {1, 1, 1, 1}, 4));
  Generator g1(9), g2(9);
  a.initialize(g1);
  b.initialize(g2);
  Generator input_gen(1);
  const Tensor x = randn({1, 3, 32, 32}, input_gen);
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(a.forward(x).to_vector(), b.forward(x).to_vector());
  EXPECT_EQ(a.state_dict().at("layer1.0.bn1.weight").to_vector(), std::vector<double>(4, 1.0));
}

// features(x, k) is the trunk up to stage k: the same values the layer<k> tap sees in forward.
TEST(ResNet, FeaturesStopAfterTheRequestedStage) {
  models::ResNet model(tiny(models::BlockKind::Bottleneck, {3, 4, 6, 3}, 4));
  model.load_state_dict(weights::read_safetensors(fixture("tiny_resnet50.safetensors")));
  Generator generator(2);
  const Tensor x = randn({1, 3, 32, 32}, generator);
  autograd::NoGradGuard no_grad;
  for (int64_t stage = 1; stage <= 4; ++stage) {
    const std::string name = "layer" + std::to_string(stage);
    autograd::TapScope taps({name});
    model.forward(x);
    const Tensor features = model.features(x, stage);
    EXPECT_EQ(features.shape(), taps[name].value().shape()) << name;
    EXPECT_EQ(features.to_vector(), taps[name].value().to_vector()) << name;
  }
  EXPECT_THROW(model.features(x, 0), InvalidArgument);
  EXPECT_THROW(model.features(x, 5), InvalidArgument);
}

// The model cut after its stem convolution (what Integrated Gradients and SmoothGrad walk) is
// the same function with the same input gradient, bit for bit: the convolution's sums do not
// change when its ReLU leaves the store, and the backward runs the same ops in the same order.
// With BatchNorm in evaluation mode and folded; not affine while the BatchNorm trains.
TEST(ResNet, CutAfterTheStemIsTheSameFunctionAndGradient) {
  for (bool folded : {false, true}) {
    models::ResNet model(tiny(models::BlockKind::Bottleneck, {3, 4, 6, 3}, 4));
    model.load_state_dict(weights::read_safetensors(fixture("tiny_resnet50.safetensors")));
    if (folded) model.fold_batch_norm();
    ASSERT_TRUE(model.has_affine_input_layer());
    Generator generator(5);
    const Tensor x = randn({2, 3, 32, 32}, generator);
    Tensor seed = zeros({2, 10});
    seed.set({0, 3}, 1.0);
    seed.set({1, 7}, -2.0);

    Tensor whole_input = x.detach().set_requires_grad(true);
    const Tensor whole = model.forward(whole_input);
    const Tensor whole_gradient = autograd::grad(whole, {whole_input}, seed)[0];

    Tensor cut_input = x.detach().set_requires_grad(true);
    const Tensor stem = model.input_layer(cut_input);
    EXPECT_EQ(stem.shape(), Shape({2, 4, 16, 16}));
    const Tensor cut = model.forward_from_input_layer(stem);
    const Tensor cut_gradient = autograd::grad(cut, {cut_input}, seed)[0];

    EXPECT_EQ(cut.to_vector(), whole.to_vector()) << "folded " << folded;
    EXPECT_EQ(cut_gradient.to_vector(), whole_gradient.to_vector()) << "folded " << folded;
  }
  models::ResNet training(tiny(models::BlockKind::Bottleneck, {1, 1, 1, 1}, 4));
  training.train();
  EXPECT_FALSE(training.has_affine_input_layer());
  EXPECT_THROW(training.input_layer(zeros({1, 3, 32, 32})), InvalidArgument);
}

}  // namespace
}  // namespace saliency
