#pragma once
// The ResNet family in torchvision's layout: BasicBlock (18, 34) and Bottleneck (50, 101, 152)
// with the stride on the 3x3 convolution ("ResNet v1.5") and downsample = 1x1 conv + BN.
// Parameter names equal torchvision's state_dict keys, so converted weights load by name.
//
// Tap points (see autograd/tap.h): "maxpool" (the stem's output, pooled or not), "layer1".."layer4"
// and every block, e.g. "layer4.2" or "layer3.5"; "fc" (the logits).
#include <array>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "models/classifier.h"
#include "nn/layers.h"

namespace saliency::models {

enum class BlockKind { Basic, Bottleneck };

struct ResNetConfig {
  BlockKind block = BlockKind::Bottleneck;
  std::array<int64_t, 4> layers{3, 4, 6, 3};
  int64_t num_classes = 1000;
  int64_t base_width = 64;  // channels after the stem; torchvision uses 64, demo models less
  // torchvision's stem ends in a 3x3/2 max pool; small-image models (the shapes demo, 64x64)
  // drop it to keep 4x4 cells at layer4. No parameter shows it, so weights files record it in
  // their metadata (see metadata / apply_metadata).
  bool stem_max_pool = true;

  // "resnet18", "resnet34", "resnet50", "resnet101", "resnet152".
  static ResNetConfig named(std::string_view name, int64_t num_classes = 1000);
  // The configuration a torchvision-layout state dict was saved from: block kind (conv3
  // present), blocks per stage, stem width (conv1.weight) and classes (fc.weight). `source`
  // names the file in errors.
  static ResNetConfig from_state_dict(const std::map<std::string, Tensor>& state,
                                      std::string_view source);
  // Facts a state dict cannot show, as safetensors metadata ("saliency.resnet.stem_max_pool").
  std::map<std::string, std::string> metadata() const;
  void apply_metadata(const std::map<std::string, std::string>& metadata, std::string_view source);
  bool operator==(const ResNetConfig&) const = default;
};

class ResNet : public ImageClassifier {
 public:
  explicit ResNet(const ResNetConfig& config);
  // image [N, 3, H, W] (normalized) -> logits [N, num_classes].
  Tensor forward(const Tensor& image) const override;
  // The stem and the first `stages` residual stages (1..4): the feature map a new head can be
  // built on (tap points as in forward).
  Tensor features(const Tensor& image, int64_t stages = 4) const;
  std::string architecture() const override { return "resnet"; }
  std::string default_cam_layer() const override { return "layer4"; }
  // By stage: fc, layer4, layer3, layer2, layer1, conv1.
  std::vector<std::string> randomization_cascade() const override;
  void canonize_for_lrp() override { fold_batch_norm(); }
  void fold_for_inference() override { fold_batch_norm(); }
  // The stem's convolution (and its BatchNorm, unless folded): affine in the image unless the
  // BatchNorm is in training mode (batch statistics).
  bool has_affine_input_layer() const override;
  Tensor input_layer(const Tensor& image) const override;
  // The stem's ReLU and max pooling, the stages and the head, from the convolution's output.
  Tensor forward_from_input_layer(const Tensor& stem) const override;
  // torchvision's initialization: Kaiming-normal convs (fan-out), BN weight 1 and bias 0,
  // default Linear init. Seeded, for benchmarks and tests without downloaded weights.
  void initialize(Generator& generator);
  // Folds every BatchNorm into the conv before it (see nn::Conv2d::absorb_batch_norm): the same
  // function with a conv + bias per BN, for faster inference and for LRP's canonical form.
  void fold_batch_norm();
  const ResNetConfig& config() const { return config_; }

 private:
  // The stem's output (after its max pooling) through the first `stages` residual stages.
  Tensor run_stages(Tensor x, int64_t stages) const;
  // Global average pooling and the fully connected layer: the logits ("fc" tap).
  Tensor head(const Tensor& features) const;
  ResNetConfig config_;
  std::shared_ptr<nn::Conv2d> conv1_;
  std::shared_ptr<nn::BatchNorm2d> bn1_;
  std::array<std::shared_ptr<nn::Sequential>, 4> layers_;
  std::shared_ptr<nn::Linear> fc_;
};

}  // namespace saliency::models
