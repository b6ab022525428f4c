// Classification end to end: a photo through our decoder, preprocessing and a ResNet built from
// the weights file alone gives PyTorch's logits (PNG: preprocessing is bit-exact).
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/image.h"
#include "saliency/imagenet_classes.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

const std::string kWeights = SALIENCY_FIXTURE_DIR "/tiny_resnet18.safetensors";

TEST(Predict, ConfigurationComesFromTheWeightsFile) {
  const auto model = load_resnet(kWeights);
  const models::ResNetConfig expected{.block = models::BlockKind::Basic,
                                      .layers = {2, 2, 2, 2},
                                      .num_classes = 10,
                                      .base_width = 4};
  EXPECT_EQ(model->config(), expected);
  EXPECT_FALSE(model->state_dict().at("fc.weight").requires_grad());
  EXPECT_THROW(load_resnet(kWeights, "resnet18"), InvalidArgument);
  const auto bottleneck = load_resnet(SALIENCY_FIXTURE_DIR "/tiny_resnet50.safetensors");
  EXPECT_EQ(bottleneck->config().block, models::BlockKind::Bottleneck);
  EXPECT_EQ(bottleneck->config().layers, (std::array<int64_t, 4>{3, 4, 6, 3}));
}

TEST(Predict, PhotoToLogitsMatchesPyTorch) {
  const auto model = load_resnet(kWeights);
  autograd::NoGradGuard inference;
  const Tensor logits = model->forward(preprocess(load_image(SALIENCY_DATA_DIR "/images/cat.png")));
  const std::vector<double> ours = logits.to_vector();
  const std::vector<double> theirs =
      weights::read_npy(SALIENCY_FIXTURE_DIR "/tiny_resnet18_cat_logits.npy").to_vector();
  ASSERT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], theirs[i], 1e-4) << i;
}

TEST(Predict, TopKRanksByLogitWithSoftmaxProbabilities) {
  const Tensor logits = from_vector({4}, {1.0, 3.0, 2.0, 3.0 - std::log(2.0)});
  const std::vector<Prediction> top = top_k(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_EQ(top[1].index, 3);
  EXPECT_EQ(top[2].index, 2);
  EXPECT_NEAR(top[0].probability / top[1].probability, 2.0, 1e-6);
  EXPECT_TRUE(top[0].label.empty());
  EXPECT_EQ(top_k(logits, 10).size(), 4u);

  Tensor imagenet = zeros({1000});
  imagenet.set({207}, 5.0);
  EXPECT_EQ(top_k(imagenet, 1)[0].label, "golden retriever");
  EXPECT_EQ(imagenet_class_names().size(), 1000u);
  EXPECT_EQ(imagenet_class_names().front(), "tench");
  EXPECT_EQ(imagenet_class_names().back(), "toilet tissue");
}

}  // namespace
}  // namespace saliency
