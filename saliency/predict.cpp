#include "saliency/predict.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "autograd/ops.h"
#include "core/error.h"
#include "saliency/image.h"
#include "saliency/imagenet_classes.h"
#include "weights/tensor_file.h"

namespace saliency {

std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model) {
  const weights::TensorMap state = weights::read_weights(weights_path);
  const models::ResNetConfig config = models::ResNetConfig::from_state_dict(state, weights_path);
  if (!expected_model.empty()) {
    const models::ResNetConfig expected =
        models::ResNetConfig::named(expected_model, config.num_classes);
    SALIENCY_CHECK(config == expected, weights_path, ": weights do not describe a ",
                   expected_model);
  }
  auto model = std::make_unique<models::ResNet>(config);
  model->load_state_dict(state, weights_path);
  model->eval();
  model->set_requires_grad(false);
  return model;
}

std::string default_weights_path() {
  if (const char* configured = std::getenv("SALIENCY_WEIGHTS"); configured && *configured) {
    SALIENCY_CHECK(std::filesystem::exists(configured), configured,
                   ": no such weights file (named by $SALIENCY_WEIGHTS)");
    return configured;
  }
  const std::string fallback = "weights/resnet50.safetensors";
  SALIENCY_CHECK(std::filesystem::exists(fallback), "no weights given and ", fallback,
                 " does not exist: run scripts/get-weights.sh "
                 "(downloads torchvision's ResNet-50; needs the internet), or pass --weights FILE "
                 "(.safetensors or torchvision .pth), or set $SALIENCY_WEIGHTS");
  return fallback;
}

Tensor load_model_input(const std::string& path) {
  if (!path.ends_with(".npy")) return preprocess(load_image(path));
  Tensor tensor = weights::read_npy(path).to(DType::Float32);
  if (tensor.rank() == 3) tensor = tensor.view({1, tensor.size(0), tensor.size(1), tensor.size(2)});
  SALIENCY_CHECK(tensor.rank() == 4 && tensor.size(0) == 1 && tensor.size(1) == 3, path,
                 ": expected a normalized image tensor [3, H, W] or [1, 3, H, W], got ",
                 tensor.shape());
  return tensor;
}

std::vector<Prediction> top_k(const Tensor& logits, int64_t k) {
  SALIENCY_CHECK(logits.rank() == 1, "top_k: expected one row of logits, got ", logits.shape());
  const std::vector<double> values = logits.to_vector();
  const std::vector<double> probabilities =
      softmax(logits.to(DType::Float64).view({1, logits.numel()}), 1).to_vector();
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(order.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  const auto& names = imagenet_class_names();
  std::vector<Prediction> result;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t c = order[i];
    result.push_back(
        {c, values[c], probabilities[c], values.size() == names.size() ? names[c] : std::string()});
  }
  return result;
}

}  // namespace saliency
