// Example 09: LRP rules, attention rollout, and a model of your own.
//
// 1. Layer-wise Relevance Propagation (Bach et al. 2015) sends the target logit back through
//    the network as "relevance" instead of a gradient, each layer sharing what it receives
//    among its inputs by a rule. For z_j = sum_i x_i w_ij + b_j:
//      epsilon   R_i = sum_j x_i w_ij / (z_j + eps sign z_j) R_j
//      z+        R_i = sum_j x_i w_ij+ / sum_i' x_i' w_i'j+ R_j        (positive evidence only)
//      gamma     w -> w + gamma w+                                     (between the two)
//      flat      R_i = sum_j 1 / (fan-in of j) R_j                    (the first layer)
//      z-box     the first layer of an image bounded in [low, high] per channel
//    A composite says which rule each layer gets. Relevance is conserved where biases and
//    stabilizers take nothing: the program prints sum(R) next to the logit.
// 2. Attention rollout (Abnar & Zuidema 2020) multiplies a transformer's attention maps
//    through the layers, (0.5 A + 0.5 I) row-normalized, and reads the class token's row: how
//    much each patch flows into the prediction.
// 3. None of this depends on a model class: the methods see a function from image to logits
//    and the graph it records. A small CNN written with the nn modules, trained here for a few
//    seconds, is explained by the same calls.
//
// Run: 09_advanced [IMAGE [WEIGHTS]] [--out DIR]
// With ViT weights (scripts/get-weights.sh vit) part 2 uses that model; otherwise a tiny ViT
// with seeded, untrained weights shows the mechanics (its maps mean nothing).
#include <cstdio>
#include <memory>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "examples/common/example.h"
#include "models/resnet.h"
#include "models/vit.h"
#include "nn/layers.h"
#include "saliency/demo_model.h"
#include "saliency/lrp.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"
#include "train/trainer.h"

using namespace saliency;

namespace {

// --- 1. LRP: three composites on the example's model ---

// The share of positive relevance that lands on the object's pixels (shapes only).
double share_on_object(const std::vector<float>& relevance, const std::vector<uint8_t>& mask) {
  double on = 0, all = 0;
  for (size_t i = 0; i < relevance.size(); ++i) {
    const double positive = std::max(0.0f, relevance[i]);
    all += positive;
    on += mask[i] ? positive : 0;
  }
  return all > 0 ? on / all : 0;
}

RgbImage lrp_composites(const examples::Setup& s, int64_t target) {
  canonize_for(s.model, {Method::Lrp});  // BatchNorm folded into the convolutions
  MethodOptions options;
  adapt_options(options, s.model);  // z-box's bounds from the model's normalization
  double logit = 0;
  {
    autograd::NoGradGuard inference;
    logit = s.classifier(s.input).at({0, target});
  }
  // The two presets (Zennit's EpsilonPlusFlat and EpsilonGammaBox) and a mix of other rules.
  const std::vector<LrpComposite> composites = {
      LrpComposite::epsilon_plus_flat(),
      LrpComposite::epsilon_gamma_box(options.lrp.low, options.lrp.high),
      {"w-square / alpha2-beta1 / epsilon 0.25", LrpRule::w_square(), LrpRule::alpha_beta(2, 1),
       LrpRule::epsilon_rule(0.25)}};
  const int64_t height = s.input.size(2), width = s.input.size(3);
  std::vector<RgbImage> panels = {s.picture};
  std::printf(
      "LRP, class %s, logit %.4f (sum(R) equals it only where biases and stabilizers take "
      "nothing):\n",
      s.model.info.label(target).c_str(), logit);
  for (const LrpComposite& composite : composites) {
    options.lrp.custom = composite;
    const Explanation e = explain(s.classifier, s.input, Method::Lrp, target, options);
    const std::vector<float> relevance =
        reduce_to_map(e.attribution, ChannelReduction::Sum, height, width);
    std::printf("  %-40s sum(R) %8.4f", composite.name.c_str(), sum(e.attribution).item());
    if (s.shape)
      std::printf("  positive relevance on the object %3.0f%%",
                  100 * share_on_object(relevance, s.shape->mask));
    std::printf("\n");
    panels.push_back(colorize(relevance, height, width, "coolwarm", true, 99.0));
  }
  return side_by_side(panels);
}

// --- 2. attention rollout ---

RgbImage rollout(const examples::Setup& s) {
  const bool has_attention = !s.model.network->attention_taps().empty();
  std::unique_ptr<models::VisionTransformer> tiny;  // only when the model has no attention
  if (!has_attention) {
    tiny = std::make_unique<models::VisionTransformer>(
        models::VitConfig{.image_size = s.input.size(2),
                          .patch_size = s.input.size(2) / 8,
                          .layers = 4,
                          .heads = 4,
                          .hidden = 64,
                          .mlp = 128,
                          .num_classes = 6});
    Generator generator(9);
    tiny->initialize(generator);
    tiny->set_requires_grad(false);
  }
  const models::ImageClassifier& vit = has_attention ? *s.model.network : *tiny;
  const Classifier classifier = [&vit](const Tensor& x) { return vit.forward(x); };
  MethodOptions options;
  options.rollout.taps = vit.attention_taps();
  std::printf("attention rollout on %s (%zu layers):\n",
              has_attention ? "the given ViT" : "a tiny ViT with random weights",
              options.rollout.taps.size());
  const int64_t height = s.input.size(2), width = s.input.size(3);
  std::vector<RgbImage> panels = {s.picture};
  for (const char* fusion : {"mean", "max"}) {
    options.rollout.fusion = fusion;
    options.rollout.discard_ratio = fusion == std::string("max") ? 0.9 : 0.0;
    const Explanation e = explain(classifier, s.input, Method::AttentionRollout, -1, options);
    std::printf("  fusion %-4s discard %.1f: map %lld x %lld\n", fusion,
                options.rollout.discard_ratio, static_cast<long long>(e.attribution.size(2)),
                static_cast<long long>(e.attribution.size(3)));
    panels.push_back(overlay(s.picture, render_heatmap(e, height, width, "nearest", "jet")));
  }
  if (!has_attention)
    std::printf(
        "  (random weights: what the map shows comes from the image's patches, not from\n"
        "   training: check maps against a randomized model, saliency eval --metrics sanity)\n");
  return side_by_side(panels);
}

// --- 3. a model of your own ---

// A new classifier head in torch.nn.Sequential's style (conv, BatchNorm, ReLU; global average
// pool; linear) on the first two stages of the embedded shapes ResNet, which stay frozen: the
// usual way to build a model for a new task on a trained one. Only the head is trained.
struct HeadOnTrunk {
  LoadedModel trunk = load_shapes_model();
  nn::Sequential head;
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> batch_norm;

  HeadOnTrunk(int64_t classes, Generator& generator) {
    conv = head.append(std::make_shared<nn::Conv2d>(32, 64, 3, nn::Conv2d::Options{.padding = 1}));
    conv->initialize(generator);
    batch_norm = head.append(std::make_shared<nn::BatchNorm2d>(64));                           // 1
    head.append_function([](const Tensor& x) { return relu(x); });                             // 2
    head.append_function([](const Tensor& x) { return flatten(adaptive_avg_pool2d(x, 1)); });  // 3
    head.append(std::make_shared<nn::Linear>(64, classes))->initialize(generator);             // 4
  }
  // Image -> logits; the head's steps pass tap points "head.<index>".
  Tensor forward(const Tensor& image) const {
    const auto& resnet = dynamic_cast<const models::ResNet&>(*trunk.network);
    return head.forward(resnet.features(image, 2), "head");
  }
};

void custom_model() {
  Generator generator(3);
  HeadOnTrunk model(int64_t(datasets::shape_class_names().size()), generator);
  const Classifier classifier = [&model](const Tensor& x) { return model.forward(x); };
  const datasets::ShapesDataset train_set(datasets::kShapesTrainSeed + 9000, 2000);
  const datasets::ShapesDataset test_set(datasets::kShapesTestSeed, 200);
  train::TrainOptions training{.epochs = 4,
                               .batch_size = 32,
                               .optimizer = "adam",
                               .learning_rate = 3e-3,
                               .weight_decay = 0,
                               .warmup_steps = 20};
  train::fit(
      model.head, classifier, train_set, &test_set, training, [](const train::EpochReport& r) {
        std::printf("  epoch %lld: loss %.3f, test accuracy %.1f%%, %.1f s\n",
                    static_cast<long long>(r.epoch), r.loss, 100 * r.test_accuracy, r.seconds);
      });
  model.head.eval();
  // LRP's canonical form, the same function: every BatchNorm folded into its convolution.
  model.conv->absorb_batch_norm(*model.batch_norm);
  model.trunk.network->canonize_for_lrp();

  // The same calls as for the ResNet: pointing game on 50 held-out images.
  MethodOptions options;
  options.layer = "head.2";
  int hits[3] = {0, 0, 0};
  const Method methods[3] = {Method::Vanilla, Method::GradCam, Method::Lrp};
  for (uint64_t i = 0; i < 50; ++i) {
    const datasets::ShapeSample sample = datasets::make_shape_sample(datasets::kShapesTestSeed, i);
    const Tensor input = to_tensor(sample.image);
    for (int m = 0; m < 3; ++m) {
      const Explanation e = explain(classifier, input, methods[m], sample.label, options);
      const auto map = reduce_to_map(e.attribution, default_reduction(methods[m]), 64, 64);
      hits[m] += pointing_game_hit_mask(map, 64, 64, sample.mask, 1.0);
    }
  }
  std::printf(
      "  pointing game on 50 held-out images: vanilla %d%%, gradcam (head.2) %d%%, lrp %d%%\n",
      2 * hits[0], 2 * hits[1], 2 * hits[2]);
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "09_advanced");
  if (s.model.network->attention_taps().empty()) {
    examples::save(s, "09_lrp_composites.png", lrp_composites(s, top_class(s.classifier, s.input)));
  }
  examples::save(s, "09_attention_rollout.png", rollout(s));
  std::printf(
      "a custom head (nn::Sequential) on the shapes ResNet's layer2, trained on 2000 images:\n");
  custom_model();
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "09_advanced: %s\n", e.what());
  return 2;
}
