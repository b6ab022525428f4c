// The Vision Transformer against torchvision and attention rollout / Grad-CAM against their
// references (tests/reference/make_vit_fixtures.py, a tiny torchvision ViT in float64).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "saliency/predict.h"
#include "saliency/rollout.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

using testing::max_relative_error;
using testing::relative_l2;

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/vit/" + name;
}

struct TinyVit {
  LoadedModel loaded = load_model(fixture("tiny_vit.safetensors"));
  Classifier classifier = [this](const Tensor& x) { return loaded.network->forward(x); };
  Tensor batch = weights::read_npy(fixture("input.npy"));
  nlohmann::json info = nlohmann::json::parse(std::ifstream(fixture("vit.json")));
  double tolerance(const std::string& key) const {
    return std::max(3 * double(info["torch_float32_error"][key]), 2e-6);
  }
  Tensor image(int64_t n) const { return reshape(batch.select_batch(n), {1, 3, 32, 32}); }
};

TEST(VisionTransformer, ReadsItsConfigurationFromTheWeights) {
  TinyVit vit;
  ASSERT_EQ(vit.loaded.network->architecture(), "vit");
  const auto& model = dynamic_cast<const models::VisionTransformer&>(*vit.loaded.network);
  const models::VitConfig& c = model.config();
  EXPECT_EQ(c.image_size, 32);
  EXPECT_EQ(c.patch_size, 8);
  EXPECT_EQ(c.layers, 2);
  EXPECT_EQ(c.heads, 2);  // from the metadata
  EXPECT_EQ(c.hidden, 16);
  EXPECT_EQ(c.mlp, 32);
  EXPECT_EQ(c.num_classes, 5);
  EXPECT_EQ(vit.loaded.info.preprocessing().crop, 32);
  EXPECT_EQ(models::VitConfig::named("vit_b_16").hidden, 768);
  EXPECT_THROW(load_model(fixture("tiny_vit.safetensors"), "vit_b_16"), InvalidArgument);
  EXPECT_THROW(load_model(SALIENCY_FIXTURE_DIR "/tiny_resnet18.safetensors", "vit_b_16"),
               InvalidArgument);
}

TEST(VisionTransformer, LogitsAndInputGradientsMatchTorchvision) {
  TinyVit vit;
  const Tensor expected_logits = weights::read_npy(fixture("logits.npy"));
  Tensor logits;
  {
    autograd::NoGradGuard inference;
    logits = vit.classifier(vit.batch);
  }
  EXPECT_LE(max_relative_error(logits, expected_logits), vit.tolerance("logits"));
  const std::vector<int64_t> targets = vit.info["targets"];
  const Tensor gradient = input_gradients(vit.classifier, vit.batch, targets);
  const Tensor expected = weights::read_npy(fixture("input_grad.npy"));
  std::printf("logits %.1e, input gradient %.1e (torch float32 %.1e)\n",
              max_relative_error(logits, expected_logits), relative_l2(gradient, expected),
              double(vit.info["torch_float32_error"]["input_grad"]));
  EXPECT_LE(relative_l2(gradient, expected), vit.tolerance("input_grad"));
}

TEST(VisionTransformer, AttentionTapsHoldTheSoftmaxAttention) {
  TinyVit vit;
  const std::vector<std::string> names = vit.loaded.network->attention_taps();
  ASSERT_EQ(names.size(), 2u);
  autograd::TapScope taps(names);
  {
    autograd::NoGradGuard inference;
    vit.classifier(vit.batch);
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const Tensor expected = weights::read_npy(fixture("attention_" + std::to_string(i) + ".npy"));
    EXPECT_LE(relative_l2(taps[names[i]].value(), expected),
              vit.tolerance("attention_" + std::to_string(i)));
  }
}

TEST(AttentionRollout, MatchesTheReferenceForBothFusions) {
  TinyVit vit;
  MethodOptions options;
  adapt_options(options, vit.loaded);
  const Explanation mean =
      explain(vit.classifier, vit.image(0), Method::AttentionRollout, -1, options);
  ASSERT_EQ(mean.attribution.shape(), Shape({1, 1, 4, 4}));
  EXPECT_LE(relative_l2(mean.attribution, weights::read_npy(fixture("rollout_mean.npy"))),
            vit.tolerance("rollout_mean"));
  options.rollout.fusion = "max";
  options.rollout.discard_ratio = 0.5;
  const Explanation max =
      explain(vit.classifier, vit.image(0), Method::AttentionRollout, -1, options);
  EXPECT_LE(relative_l2(max.attribution, weights::read_npy(fixture("rollout_max_discard.npy"))),
            vit.tolerance("rollout_max_discard"));
  options.rollout.fusion = "median";
  EXPECT_THROW(explain(vit.classifier, vit.image(0), Method::AttentionRollout, -1, options),
               InvalidArgument);
}

// With one layer whose heads attend uniformly, rollout is uniform over the patches.
TEST(AttentionRollout, UniformAttentionGivesAFlatMap) {
  const Tensor uniform = full({1, 2, 5, 5}, 0.2);
  const std::vector<double> map = attention_rollout({uniform, uniform}, {}).to_vector();
  for (double v : map) EXPECT_NEAR(v, 1.0, 1e-12);
}

TEST(VisionTransformer, GradCamOnTheLastBlockMatchesPytorchGradCamsReshape) {
  TinyVit vit;
  MethodOptions options;
  adapt_options(options, vit.loaded);
  EXPECT_EQ(options.layer, "encoder.layers.encoder_layer_1.ln_1");
  const int64_t target = vit.info["targets"][0];
  const Explanation cam = explain(vit.classifier, vit.image(0), Method::GradCam, target, options);
  const Tensor expected = weights::read_npy(fixture("gradcam.npy"));
  ASSERT_EQ(cam.attribution.shape(), expected.shape());
  EXPECT_LE(relative_l2(cam.attribution, expected), vit.tolerance("gradcam"));
}

TEST(VisionTransformer, MethodsItSupportsAndRefuses) {
  TinyVit vit;
  const std::vector<Method> methods = supported_methods(*vit.loaded.network);
  EXPECT_NE(std::find(methods.begin(), methods.end(), Method::AttentionRollout), methods.end());
  EXPECT_EQ(std::find(methods.begin(), methods.end(), Method::Lrp), methods.end());
  EXPECT_THROW(canonize_for(vit.loaded, {Method::Lrp}), InvalidArgument);
  // Integrated Gradients works unchanged; its completeness gap shrinks with steps.
  MethodOptions options;
  options.integrated_gradients.steps = 200;
  options.batch_size = 50;
  const Explanation ig =
      explain(vit.classifier, vit.image(1), Method::IntegratedGradients, -1, options);
  EXPECT_LT(std::abs(ig.delta), 0.02);
  // Rollout on a ResNet says what it needs.
  const LoadedModel resnet = load_model(SALIENCY_FIXTURE_DIR "/tiny_resnet18.safetensors");
  const Classifier classifier = [&](const Tensor& x) { return resnet.network->forward(x); };
  try {
    explain(classifier, vit.image(0), Method::AttentionRollout);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("Vision Transformer"), std::string::npos);
  }
}

}  // namespace
}  // namespace saliency
