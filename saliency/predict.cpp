#include "saliency/predict.h"

#include <algorithm>
#include <numeric>

#include "autograd/ops.h"
#include "core/error.h"
#include "saliency/imagenet_classes.h"
#include "weights/tensor_file.h"

namespace saliency {

std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model) {
  const weights::TensorMap state = weights::read_safetensors(weights_path);
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
