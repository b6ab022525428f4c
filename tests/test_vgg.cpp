// VGG in torchvision's layout against torchvision, and Grad-CAM and LRP on it against
// pytorch-grad-cam's rule and Zennit (tests/reference/make_vgg_fixtures.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "gradcheck.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

using testing::max_relative_error;
using testing::relative_l2;

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/vgg/" + name;
}

class VggParity : public ::testing::TestWithParam<std::string> {
 protected:
  LoadedModel loaded = load_model(fixture(GetParam() + ".safetensors"));
  Classifier classifier = [this](const Tensor& x) { return loaded.network->forward(x); };
  Tensor batch = weights::read_npy(SALIENCY_FIXTURE_DIR "/resnet_input.npy");
  nlohmann::json info = nlohmann::json::parse(std::ifstream(fixture("vgg.json")))[GetParam()];
  Tensor expected(const std::string& key) const {
    return weights::read_npy(fixture(GetParam() + "_" + key + ".npy"));
  }
  double tolerance(const std::string& key) const {
    return std::max(3 * double(info["torch_float32_error"][key]), 2e-6);
  }
  Tensor first_image() const { return reshape(batch.select_batch(0), {1, 3, 40, 36}); }
};

TEST_P(VggParity, ReadsTheLayoutFromTheWeights) {
  ASSERT_EQ(loaded.network->architecture(), "vgg");
  const auto& vgg = dynamic_cast<const models::Vgg&>(*loaded.network);
  EXPECT_EQ(vgg.config().features, (std::vector<int64_t>{4, 0, 8, 0, 8, 8, 0, 16, 16, 0}));
  EXPECT_EQ(vgg.config().batch_norm, GetParam() == "tiny_vgg_bn");
  EXPECT_EQ(vgg.config().classifier_width, 16);
  EXPECT_EQ(vgg.config().pool_size, 7);
  EXPECT_EQ(vgg.config().num_classes, 6);
  EXPECT_EQ(loaded.network->default_cam_layer(),
            GetParam() == "tiny_vgg" ? "features.14" : "features.20");
  EXPECT_EQ(models::VggConfig::named("vgg16_bn").features.size(), 18u);
  EXPECT_THROW(load_model(fixture(GetParam() + ".safetensors"), "vgg16"), InvalidArgument);
}

TEST_P(VggParity, LogitsAndInputGradientsMatchTorchvision) {
  Tensor logits;
  {
    autograd::NoGradGuard inference;
    logits = classifier(batch);
  }
  EXPECT_LE(max_relative_error(logits, expected("logits")), tolerance("logits"));
  const std::vector<int64_t> targets = info["targets"];
  const Tensor gradient = input_gradients(classifier, batch, targets);
  EXPECT_LE(relative_l2(gradient, expected("input_grad")), tolerance("input_grad"));
}

TEST_P(VggParity, GradCamAtTheLastBlockAndLrpMatchTheirReferences) {
  MethodOptions options;
  adapt_options(options, loaded);
  const int64_t target = info["targets"][0];
  const Explanation cam = explain(classifier, first_image(), Method::GradCam, target, options);
  EXPECT_LE(relative_l2(cam.attribution, expected("gradcam")), tolerance("gradcam"));
  canonize_for(loaded, {Method::Lrp});
  const Explanation lrp = explain(classifier, first_image(), Method::Lrp, target, options);
  std::printf("%s LRP relative L2 %.1e (Zennit float32 %.1e)\n", GetParam().c_str(),
              relative_l2(lrp.attribution, expected("lrp")),
              double(info["torch_float32_error"]["lrp"]));
  EXPECT_LE(relative_l2(lrp.attribution, expected("lrp")), tolerance("lrp"));
}

INSTANTIATE_TEST_SUITE_P(Torchvision, VggParity, ::testing::Values("tiny_vgg", "tiny_vgg_bn"));

}  // namespace
}  // namespace saliency
