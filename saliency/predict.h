#pragma once
// Classification: load a ResNet or a Vision Transformer from a weights file, run images through
// it, rank the classes.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/resnet.h"
#include "models/vgg.h"
#include "models/vit.h"
#include "saliency/image.h"
#include "saliency/methods.h"

namespace saliency {

// Builds the ResNet a torchvision-layout weights file (.safetensors, or a PyTorch .pth) describes
// and loads it (eval mode, parameters frozen). With a model name ("resnet50"), the file must
// match that configuration.
std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model = "");

// What a weights file says about its model beyond the tensors, from its safetensors metadata:
// "saliency.classes" (comma-separated names) and "saliency.input_size" (images are resized to
// that square, no crop). Without them: ImageNet's names for 1000 classes, none otherwise, and
// torchvision's evaluation transform.
struct ModelInfo {
  std::string source;               // the file, or "embedded shapes model"
  std::vector<std::string> labels;  // class names, or empty
  int64_t input_size = 0;           // 0: resize 256 + center crop 224
  std::map<std::string, std::string> metadata;
  Preprocessing preprocessing() const;
  std::string label(int64_t index) const;  // the name, or "class <index>"
};

struct LoadedModel {
  std::unique_ptr<models::ImageClassifier> network;  // a ResNet or a VisionTransformer
  ModelInfo info;
};

// The architecture the tensors describe (a ViT when conv_proj.weight is present, else a
// ResNet), loaded, plus the model's ModelInfo. With a model name ("resnet50", "vit_b_16"), the
// file must match that configuration.
LoadedModel load_model(const std::string& weights_path, const std::string& expected_model = "");
// LRP explains the canonical network: BatchNorm folded into the convolutions. Folds the model
// when `methods` include LRP (the same function up to float rounding for every other method).
void canonize_for(const LoadedModel& model, const std::vector<Method>& methods);
// What predict, explain, demo, trace and bench run: the model folded for inference
// (ImageClassifier::fold_for_inference: BatchNorm into the convolutions, the same function up
// to float rounding and faster), and canonized for LRP when `methods` include it. eval keeps
// canonize_for, so that its model randomization test redraws the weights of the model as
// loaded (BatchNorm scales kept) unless LRP is scored.
void prepare_for(const LoadedModel& model, const std::vector<Method>& methods);
// The methods `--method all` means for this model: every gradient method and Grad-CAM; LRP
// for ResNets; attention rollout for models with attention; the same on CUDA.
std::vector<Method> supported_methods(const models::ImageClassifier& model);

// "cpu" or "cuda" ("cuda:0"), as --device takes it. Throws InvalidArgument for other names and
// when this build or machine has no CUDA device.
Device parse_device(const std::string& name);
// Moves the (prepared) network to `device`.
void move_to(const LoadedModel& model, Device device);
// The network as the methods call it: images and logits on the host, the network on `device`.
// The copies are differentiable (to_device), so gradients come back to the host input and
// every method runs unchanged; its small arithmetic stays on the host. For models with an
// affine first layer (ImageClassifier::has_affine_input_layer, checked here) the classifier
// carries the cut after it (Classifier::Split), which IG and SmoothGrad use.
Classifier classifier_on(const models::ImageClassifier& model, Device device);
// Method options for this model: its Grad-CAM layer and attention taps, and z^B's box for its
// normalization.
void adapt_options(MethodOptions& options, const LoadedModel& model, bool keep_layer = false);

// The same from tensors already read (`source` names them in errors).
LoadedModel load_model(const std::map<std::string, Tensor>& state,
                       const std::map<std::string, std::string>& metadata,
                       const std::string& source, const std::string& expected_model = "");

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
Tensor load_model_input(const std::string& path, const Preprocessing& preprocessing = {});

// The k most probable classes of one row of logits, best first, named from `labels` when it
// has one name per class (else ImageNet's names for 1000 classes).
std::vector<Prediction> top_k(const Tensor& logits, int64_t k,
                              const std::vector<std::string>& labels = {});

}  // namespace saliency
