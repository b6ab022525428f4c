// LRP against Zennit (tests/reference/make_lrp_fixtures.py: four composites that together use
// every rule, on the tiny ResNet-18 and ResNet-50 layouts) and the conservation property.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "conv_reference.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cpu/conv2d.h"
#include "saliency/lrp.h"
#include "saliency/methods.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

using testing::relative_l2;

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/" + name;
}

// Image n of a batch, as a batch of one.
Tensor image_of(const Tensor& batch, int64_t n) {
  const Tensor image = batch.select_batch(n);
  return reshape(image, {1, image.size(0), image.size(1), image.size(2)});
}

Tensor first_input_image() {
  return image_of(weights::read_npy(fixture("resnet_input.npy")), 0);
}

const nlohmann::json& lrp_info() {
  static const nlohmann::json info = nlohmann::json::parse(std::ifstream(fixture("lrp/lrp.json")));
  return info;
}

std::unique_ptr<models::ResNet> folded_model(const std::string& name) {
  auto model = load_resnet(fixture(name + ".safetensors"));
  model->fold_batch_norm();
  return model;
}

// The composites of the fixture script, built from our rules.
LrpComposite composite_named(const std::string& name) {
  const std::vector<double> low = lrp_info()["low"], high = lrp_info()["high"];
  if (name == "epsilon-plus-flat") return LrpComposite::epsilon_plus_flat();
  if (name == "epsilon-gamma-box") return LrpComposite::epsilon_gamma_box(low, high);
  if (name == "wsquare-alpha2-beta1")
    return {name, LrpRule::w_square(), LrpRule::alpha_beta(2, 1), LrpRule::epsilon_rule(0.25)};
  return {name, LrpRule::epsilon_rule(0.1), LrpRule::epsilon_rule(0.1), LrpRule::epsilon_rule(0.1)};
}

struct LrpCase {
  std::string model, composite;
};

void PrintTo(const LrpCase& c, std::ostream* out) {
  *out << c.model << " " << c.composite;
}

class LrpParity : public ::testing::TestWithParam<LrpCase> {};

// Our float32 relevance per image against Zennit's float64 one. Zennit's own float32 error for
// the same image is 4e-7 to 6e-6 here; allowed: 3x that with a floor of 2e-6, as for the Captum
// methods. (Per image: the batch's error, which the fixtures had held alone, sits between the
// two images' and had bounded an image 1.4x above it.)
TEST_P(LrpParity, MatchesZennitWithinTheFloat32Floor) {
  const LrpCase& c = GetParam();
  const std::string name = c.model + "_" + c.composite;
  const nlohmann::json& expected_info = lrp_info()["cases"][name];
  auto model = folded_model(c.model);
  const Classifier classifier = [&](const Tensor& x) { return model->forward(x); };
  const Tensor batch = weights::read_npy(fixture("resnet_input.npy"));
  const Tensor expected = weights::read_npy(fixture("lrp/" + name + ".npy"));
  MethodOptions options;
  options.lrp.custom = composite_named(c.composite);
  const std::vector<double> zennit_errors = expected_info["zennit_float32_errors"];
  ASSERT_EQ(int64_t(zennit_errors.size()), batch.size(0));
  for (int64_t n = 0; n < batch.size(0); ++n) {
    const double zennit_error = zennit_errors[size_t(n)];
    const int64_t target = expected_info["targets"][n];
    const Explanation ours = explain(classifier, image_of(batch, n), Method::Lrp, target, options);
    const Tensor reference = image_of(expected, n);
    const double error = relative_l2(ours.attribution, reference);
    std::printf("%s image %lld: relative L2 %.1e (Zennit float32 %.1e), sum %.5f vs %.5f\n",
                name.c_str(), static_cast<long long>(n), error, zennit_error,
                sum(ours.attribution).item(), double(expected_info["relevance_sums"][n]));
    EXPECT_LE(error, std::max(3 * zennit_error, 2e-6)) << "image " << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Zennit, LrpParity,
                         ::testing::Values(LrpCase{"tiny_resnet18", "epsilon-plus-flat"},
                                           LrpCase{"tiny_resnet18", "epsilon-gamma-box"},
                                           LrpCase{"tiny_resnet18", "wsquare-alpha2-beta1"},
                                           LrpCase{"tiny_resnet18", "epsilon"},
                                           LrpCase{"tiny_resnet50", "epsilon-plus-flat"},
                                           LrpCase{"tiny_resnet50", "epsilon-gamma-box"},
                                           LrpCase{"tiny_resnet50", "wsquare-alpha2-beta1"},
                                           LrpCase{"tiny_resnet50", "epsilon"}),
                         [](const ::testing::TestParamInfo<LrpCase>& param_info) {
                           std::string name =
                               param_info.param.model + "_" + param_info.param.composite;
                           for (char& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

// The presets as the CLI names them equal the composites built by hand.
// LRP's positive-part convolutions need exact zeros, so it never takes Winograd: with --conv
// winograd its relevance is the direct path's bit for bit, while a plain gradient through the
// same model and input does go through Winograd (layer1's 32x32 maps hold 64 tiles).
TEST(Lrp, IgnoresTheWinogradChoice) {
  SKIP_UNLESS_WINOGRAD_IS_BUILT();
  auto model = folded_model("tiny_resnet50");
  const Classifier classifier = [&](const Tensor& x) { return model->forward(x); };
  Generator generator(3);
  const Tensor input = randn({1, 3, 128, 128}, generator);
  const auto explain_both = [&] {
    return std::pair{explain(classifier, input, Method::Lrp, 1, MethodOptions{}).attribution,
                     explain(classifier, input, Method::Vanilla, 1, MethodOptions{}).attribution};
  };
  const testing::ConvAlgorithmScope restore(kernels::cpu::ConvAlgorithmChoice::direct);
  const auto [lrp_direct, gradient_direct] = explain_both();
  kernels::cpu::set_conv_algorithm(kernels::cpu::ConvAlgorithmChoice::winograd);
  const auto [lrp_winograd, gradient_winograd] = explain_both();
  EXPECT_EQ(lrp_winograd.to_vector(), lrp_direct.to_vector());
  EXPECT_NE(gradient_winograd.to_vector(), gradient_direct.to_vector());
  EXPECT_LT(relative_l2(gradient_winograd, gradient_direct), 1e-3);
}

TEST(Lrp, PresetsResolveToZennitsComposites) {
  LrpOptions options;
  EXPECT_EQ(options.composite().convolution.kind, LrpRule::Kind::ZPlus);
  EXPECT_EQ(options.composite().first_layer.kind, LrpRule::Kind::Flat);
  options.preset = "epsilon-gamma-box";
  options.gamma = 0.5;
  const LrpComposite box = options.composite();
  EXPECT_EQ(box.first_layer.kind, LrpRule::Kind::ZBox);
  EXPECT_EQ(box.convolution.describe(), "gamma(0.5)");
  ASSERT_EQ(box.first_layer.low.size(), 3u);
  EXPECT_NEAR(box.first_layer.low[0], -0.485 / 0.229, 1e-6);
  EXPECT_NEAR(box.first_layer.high[2], (1 - 0.406) / 0.225, 1e-6);
  options.preset = "epsilon-gamma";
  EXPECT_THROW(options.composite(), InvalidArgument);
  EXPECT_THROW(LrpRule::alpha_beta(2, 2), InvalidArgument);
}

// Biases set to zero and a tiny epsilon: every rule of the epsilon and gamma-box composites
// conserves relevance layer by layer, so the input relevance sums to the target logit.
TEST(Lrp, RelevanceSumsToTheLogitWithoutBiases) {
  for (const char* name : {"tiny_resnet18", "tiny_resnet50"}) {
    auto model = folded_model(name);
    for (auto& [key, tensor] : model->named_parameters())
      if (key.ends_with(".bias")) tensor.fill(0.0);
    const Classifier classifier = [&](const Tensor& x) { return model->forward(x); };
    const Tensor image = first_input_image();
    const int64_t target = top_class(classifier, image);
    const double logit = model->forward(image).at({0, target});
    for (const LrpComposite& composite :
         {LrpComposite{"epsilon", LrpRule::epsilon_rule(1e-9), LrpRule::epsilon_rule(1e-9),
                       LrpRule::epsilon_rule(1e-9), 1e-9},
          composite_named("epsilon-gamma-box")}) {
      MethodOptions options;
      options.lrp.custom = composite;
      const double total =
          sum(explain(classifier, image, Method::Lrp, target, options).attribution).item();
      std::printf("%s %s: relevance %.6f, logit %.6f\n", name, composite.name.c_str(), total,
                  logit);
      EXPECT_NEAR(total, logit, 1e-4 * std::abs(logit)) << name << " " << composite.name;
    }
  }
}

// The layers keep the weights the rules derive (W+, W-, W^2, ones) from one explanation to the
// next, and make them again once a weight is written in place (the model randomization test's
// copy_from): every composite's relevance after such a write equals that of a model loaded with
// the written weights, and a second explanation equals the first bit for bit.
TEST(Lrp, KeptDerivedWeightsFollowWeightsWrittenInPlace) {
  Generator generator(21);
  const Tensor image = first_input_image();
  for (const char* composite_name :
       {"epsilon-plus-flat", "wsquare-alpha2-beta1", "epsilon-gamma-box"}) {
    auto kept = folded_model("tiny_resnet18"), fresh = folded_model("tiny_resnet18");
    MethodOptions options;
    options.lrp.custom = composite_named(composite_name);
    const auto relevance = [&](models::ResNet& model) {
      const Classifier classifier = [&](const Tensor& x) { return model.forward(x); };
      return explain(classifier, image, Method::Lrp, 3, options).attribution.to_vector();
    };
    const std::vector<double> first = relevance(*kept);
    EXPECT_EQ(relevance(*kept), first) << composite_name;
    auto written = fresh->named_parameters();
    for (auto& [name, tensor] : kept->named_parameters()) {
      if (!name.ends_with("weight")) continue;
      const auto counterpart = std::find_if(written.begin(), written.end(),
                                            [&](const auto& entry) { return entry.first == name; });
      ASSERT_NE(counterpart, written.end()) << name;
      const Tensor redrawn = randn(tensor.shape(), generator, tensor.dtype());
      tensor.copy_from(redrawn);
      counterpart->second.copy_from(redrawn);
    }
    const std::vector<double> after = relevance(*kept);
    EXPECT_EQ(after, relevance(*fresh)) << composite_name;
    EXPECT_NE(after, first) << composite_name;
  }
}

TEST(Lrp, UnfoldedBatchNormIsRefusedWithAHint) {
  auto model = load_resnet(fixture("tiny_resnet18.safetensors"));
  const Classifier classifier = [&](const Tensor& x) { return model->forward(x); };
  const Tensor image = first_input_image();
  try {
    explain(classifier, image, Method::Lrp, 0);
    FAIL() << "LRP ran on a model with BatchNorm";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("fold_batch_norm"), std::string::npos) << e.what();
  }
}

// The Norm rule splits a sum by each input's share, and the relevance of an addition's inputs
// is only kept under the guard: without it the rule says so instead of dividing by nothing.
TEST(Lrp, ResidualSplitFollowsEachBranchsShare) {
  Tensor a = from_vector({1, 3}, {1.0, -2.0, 3.0}).set_requires_grad(true);
  Tensor b = from_vector({1, 3}, {3.0, 1.0, 0.0}).set_requires_grad(true);
  const autograd::RuleSet rules = lrp_rules(LrpComposite::epsilon_plus_flat());
  const Tensor relevance = from_vector({1, 3}, {8.0, 2.0, 5.0});
  Tensor grads_a, grads_b;
  {
    autograd::SaveForRulesGuard keep;
    const Tensor z = add(a, b);
    autograd::RuleScope scope(rules);
    const autograd::TensorList grads = autograd::grad(z, {a, b}, relevance);
    grads_a = grads[0];
    grads_b = grads[1];
  }
  // z = (4, -1, 3): shares 1/4 and 3/4, 2 and -1, 1 and 0.
  const std::vector<double> expect_a{2.0, 4.0, 5.0}, expect_b{6.0, -2.0, 0.0};
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(grads_a.at({0, i}), expect_a[size_t(i)], 1e-5);
    EXPECT_NEAR(grads_b.at({0, i}), expect_b[size_t(i)], 1e-5);
  }
  const Tensor z = add(a, b);  // no guard: the operands are not kept
  autograd::RuleScope scope(rules);
  EXPECT_THROW(autograd::grad(z, {a, b}, relevance), InvalidArgument);
}

// Alpha-beta on an input with negative entries splits it into x+ and x- (the positive share of
// x- w- counts as well). One output, w = (1, -2), x = (-1, 1), R = 3: the contributions are -1
// and -2, so all of z = -3 is negative and the relevance -beta R (1/3, 2/3) = (-1, -2). After a
// ReLU the input is its own positive part (the graph says so, no scan): x = (0, 1) gives
// (0, -3), up to the stabilizer (1e-6 of z). Treating the first input as non-negative would
// give (6, -3).
TEST(Lrp, AlphaBetaSplitsAnInputWithNegativeEntries) {
  LrpComposite composite = LrpComposite::epsilon_plus_flat();
  composite.linear = LrpRule::alpha_beta(2.0, 1.0);
  const autograd::RuleSet rules = lrp_rules(composite);
  const Tensor x = from_vector({1, 2}, {2.0, 1.0}).set_requires_grad(true);
  const Tensor shift = from_vector({1, 2}, {-3.0, 0.0});
  const Tensor weight = from_vector({1, 2}, {1.0, -2.0});
  const Tensor relevance = from_vector({1, 1}, {3.0});
  autograd::SaveForRulesGuard keep;
  const Tensor mixed = add(x, shift);
  const Tensor rectified = relu(mixed);
  const Tensor z_mixed = linear(mixed, weight), z_rectified = linear(rectified, weight);
  autograd::RuleScope scope(rules);
  const Tensor r_mixed = autograd::grad(z_mixed, {mixed}, relevance)[0];
  const Tensor r_rectified = autograd::grad(z_rectified, {rectified}, relevance)[0];
  EXPECT_NEAR(r_mixed.at({0, 0}), -1.0, 1e-5);
  EXPECT_NEAR(r_mixed.at({0, 1}), -2.0, 1e-5);
  EXPECT_NEAR(r_rectified.at({0, 0}), 0.0, 1e-5);
  EXPECT_NEAR(r_rectified.at({0, 1}), -3.0, 1e-5);
}

}  // namespace
}  // namespace saliency
