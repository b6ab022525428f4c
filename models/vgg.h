#pragma once
// VGG (Simonyan & Zisserman 2015), the network of the first saliency maps (Simonyan et al.
// 2013), in torchvision's layout: "features" (3x3 convolutions with padding 1, optional
// BatchNorm, ReLU, 2x2 max pools), an adaptive average pool to 7x7, and "classifier" (Linear,
// ReLU, Dropout, Linear, ReLU, Dropout, Linear: indices 0, 3, 6). Parameter names equal
// torchvision's (features.<i>.weight, classifier.6.bias ...).
//
// Tap points: "features.<i>" after every feature module and "classifier.<i>". Grad-CAM's
// default is the last convolution block's output (its ReLU, before the last pool: 14x14 at
// 224 px, the layer of the Grad-CAM paper).
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/classifier.h"
#include "nn/layers.h"

namespace saliency::models {

struct VggConfig {
  std::vector<int64_t> features;  // convolution widths in order, 0 for a max pool ("M")
  bool batch_norm = false;
  int64_t classifier_width = 4096, pool_size = 7, num_classes = 1000;

  // vgg11, vgg13, vgg16, vgg19, and the same with "_bn".
  static VggConfig named(std::string_view name, int64_t num_classes = 1000);
  // From the tensors: a convolution at features.<i> (BatchNorm at i + 1 when present, then ReLU),
  // a missing index is a max pool; the features end with a max pool, as all of torchvision's.
  static VggConfig from_state_dict(const std::map<std::string, Tensor>& state,
                                   std::string_view source);
  bool operator==(const VggConfig&) const = default;
};

// Whether a state dict is a torchvision VGG's (features.0.weight and classifier.0.weight).
bool is_vgg_state_dict(const std::map<std::string, Tensor>& state);

class Vgg : public ImageClassifier {
 public:
  explicit Vgg(const VggConfig& config);
  Tensor forward(const Tensor& image) const override;
  std::string architecture() const override { return "vgg"; }
  std::string default_cam_layer() const override;
  // classifier.6, classifier.3, classifier.0, then the convolutions from the last.
  std::vector<std::string> randomization_cascade() const override;
  // Folds BatchNorm (VGG-BN) into its convolution; plain VGG is already canonical.
  void canonize_for_lrp() override;
  void fold_for_inference() override { canonize_for_lrp(); }  // BatchNorm folded (VGG-BN)
  // Kaiming-normal convolutions (fan-out), N(0, 0.01) linear layers, zero biases (torchvision).
  void initialize(Generator& generator);
  const VggConfig& config() const { return config_; }

 private:
  VggConfig config_;
  std::shared_ptr<nn::Sequential> features_, classifier_;
  std::vector<std::pair<std::shared_ptr<nn::Conv2d>, std::shared_ptr<nn::BatchNorm2d>>> convs_;
  std::vector<std::shared_ptr<nn::Linear>> linears_;
  std::vector<std::string> conv_names_;
  std::string cam_layer_;
};

}  // namespace saliency::models
