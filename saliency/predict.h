#pragma once
// Classification: load a ResNet from a weights file, run images through it, rank the classes.
#include <memory>
#include <string>
#include <vector>

#include "models/resnet.h"

namespace saliency {

// Builds the ResNet a torchvision-layout weights file (.safetensors, or a PyTorch .pth) describes
// and loads it (eval mode, parameters frozen). With a model name ("resnet50"), the file must
// match that configuration.
std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model = "");

struct Prediction {
  int64_t index = 0;
  double logit = 0, probability = 0;
  std::string label;  // the ImageNet class name for 1000-class models, else empty
};

// The weights file used when none is named: $SALIENCY_WEIGHTS, else
// weights/resnet50.safetensors. Throws InvalidArgument saying how to get weights when neither
// exists.
std::string default_weights_path();

// An image file through `preprocess`, or a .npy tensor [3, H, W] / [1, 3, H, W] used as is
// (already normalized), so results can be compared exactly with other frameworks.
Tensor load_model_input(const std::string& path);

// The k most probable classes of one row of logits, best first.
std::vector<Prediction> top_k(const Tensor& logits, int64_t k);

}  // namespace saliency
