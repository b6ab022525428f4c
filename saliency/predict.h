#pragma once
// Classification: load a ResNet from a weights file, run images through it, rank the classes.
#include <memory>
#include <string>
#include <vector>

#include "models/resnet.h"

namespace saliency {

// Builds the ResNet a torchvision-layout safetensors file describes and loads it (eval mode,
// parameters frozen). With a model name ("resnet50"), the file must match that configuration.
std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model = "");

struct Prediction {
  int64_t index = 0;
  double logit = 0, probability = 0;
  std::string label;  // the ImageNet class name for 1000-class models, else empty
};

// The k most probable classes of one row of logits, best first.
std::vector<Prediction> top_k(const Tensor& logits, int64_t k);

}  // namespace saliency
