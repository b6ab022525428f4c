#include "saliency/predict.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <numeric>

#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/cuda/runtime.h"
#include "saliency/image.h"
#include "saliency/imagenet_classes.h"
#include "weights/tensor_file.h"

namespace saliency {

namespace {

std::vector<std::string> split_names(const std::string& joined) {
  std::vector<std::string> names;
  size_t begin = 0;
  while (begin <= joined.size()) {
    const size_t end = std::min(joined.find(',', begin), joined.size());
    names.push_back(joined.substr(begin, end - begin));
    begin = end + 1;
  }
  return names;
}

ModelInfo model_info(const std::map<std::string, std::string>& metadata, const std::string& source,
                     int64_t classes) {
  ModelInfo info;
  info.source = source;
  info.metadata = metadata;
  if (auto it = metadata.find("saliency.classes"); it != metadata.end()) {
    info.labels = split_names(it->second);
    SALIENCY_CHECK(static_cast<int64_t>(info.labels.size()) == classes, source, ": metadata names ",
                   info.labels.size(), " classes, the model has ", classes);
  } else if (classes == static_cast<int64_t>(imagenet_class_names().size())) {
    info.labels = imagenet_class_names();
  }
  if (auto it = metadata.find("saliency.input_size"); it != metadata.end()) {
    const std::string& text = it->second;
    const bool digits = !text.empty() && text.size() <= 5 &&
                        text.find_first_not_of("0123456789") == std::string::npos;
    SALIENCY_CHECK(digits && std::stoll(text) >= 8, source,
                   ": metadata saliency.input_size must be an integer >= 8, got '", text, "'");
    info.input_size = std::stoll(text);
  }
  return info;
}

}  // namespace

Preprocessing ModelInfo::preprocessing() const {
  Preprocessing preprocessing;
  if (input_size > 0) preprocessing.resize = preprocessing.crop = input_size;
  return preprocessing;
}

std::string ModelInfo::label(int64_t index) const {
  if (index >= 0 && index < static_cast<int64_t>(labels.size())) return labels[index];
  return "class " + std::to_string(index);
}

namespace {

// The configuration of either architecture from the tensors, checked against a model name.
template <typename Config>
Config checked_config(Config config, const std::string& source, const std::string& expected_model) {
  if (!expected_model.empty())
    SALIENCY_CHECK(config == Config::named(expected_model, config.num_classes), source,
                   ": weights do not describe a ", expected_model);
  return config;
}

// The network built from `config`, the weights in, frozen for inference.
template <typename Network, typename Config>
LoadedModel build(const Config& config, const std::map<std::string, Tensor>& state,
                  const std::map<std::string, std::string>& metadata, const std::string& source) {
  LoadedModel loaded{std::make_unique<Network>(config),
                     model_info(metadata, source, config.num_classes)};
  loaded.network->load_state_dict(state, source);
  loaded.network->eval();
  loaded.network->set_requires_grad(false);
  return loaded;
}

}  // namespace

LoadedModel load_model(const std::map<std::string, Tensor>& state,
                       const std::map<std::string, std::string>& metadata,
                       const std::string& source, const std::string& expected_model) {
  if (models::is_vit_state_dict(state))
    return build<models::VisionTransformer>(
        checked_config(models::VitConfig::from_state_dict(state, metadata, source), source,
                       expected_model),
        state, metadata, source);
  SALIENCY_CHECK(!expected_model.starts_with("vit"), source, ": weights are not a ViT's (no ",
                 "conv_proj.weight), so not a ", expected_model);
  if (models::is_vgg_state_dict(state))
    return build<models::Vgg>(
        checked_config(models::VggConfig::from_state_dict(state, source), source, expected_model),
        state, metadata, source);
  SALIENCY_CHECK(!expected_model.starts_with("vgg"), source, ": weights are not a VGG's (no ",
                 "features.0.weight), so not a ", expected_model);
  models::ResNetConfig config = models::ResNetConfig::from_state_dict(state, source);
  config.apply_metadata(metadata, source);
  return build<models::ResNet>(checked_config(config, source, expected_model), state, metadata,
                               source);
}

void canonize_for(const LoadedModel& model, const std::vector<Method>& methods) {
  if (std::find(methods.begin(), methods.end(), Method::Lrp) != methods.end())
    model.network->canonize_for_lrp();
}

void prepare_for(const LoadedModel& model, const std::vector<Method>& methods) {
  canonize_for(model, methods);
  model.network->fold_for_inference();
}

std::vector<Method> supported_methods(const models::ImageClassifier& model) {
  std::vector<Method> methods;
  for (Method m : all_methods()) {
    if (m == Method::Lrp && model.architecture() == "vit") continue;
    if (m == Method::AttentionRollout && model.attention_taps().empty()) continue;
    methods.push_back(m);
  }
  return methods;
}

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  SALIENCY_CHECK(name == "cuda" || name == "cuda:0", "--device '", name, "': expected cpu or cuda");
  SALIENCY_CHECK(kernels::cuda::built_with_cuda(),
                 "--device cuda: this build has no CUDA (configure with SALIENCY_CUDA=ON where "
                 "nvcc is installed)");
  SALIENCY_CHECK(kernels::cuda::device_count() > 0,
                 "--device cuda: no CUDA device on this machine");
  return Device::cuda();
}

void move_to(const LoadedModel& model, Device device) {
  model.network->to(device);
}

Classifier classifier_on(const models::ImageClassifier& model, Device device) {
  // Images may already be on the device (IG's path points, SmoothGrad's copies: to_device is
  // then the identity), and the first layer's output stays there; logits come to the host.
  Classifier::Function forward = [&model, device](const Tensor& x) {
    return to_device(model.forward(to_device(x, device)), Device::cpu());
  };
  if (!model.has_affine_input_layer()) return forward;
  return {forward,
          {.first = [&model,
                     device](const Tensor& x) { return model.input_layer(to_device(x, device)); },
           .rest =
               [&model, device](const Tensor& z) {
                 return to_device(model.forward_from_input_layer(to_device(z, device)),
                                  Device::cpu());
               }}};
}

void adapt_options(MethodOptions& options, const LoadedModel& model, bool keep_layer) {
  if (!keep_layer) options.layer = model.network->default_cam_layer();
  options.rollout.taps = model.network->attention_taps();
  const Normalization& n = model.info.preprocessing().normalization;
  normalized_input_bounds({n.mean.begin(), n.mean.end()}, {n.std.begin(), n.std.end()},
                          options.lrp.low, options.lrp.high);
}

LoadedModel load_model(const std::string& weights_path, const std::string& expected_model) {
  weights::Metadata metadata;
  const weights::TensorMap state = weights::read_weights(weights_path, &metadata);
  return load_model(state, metadata, weights_path, expected_model);
}

std::unique_ptr<models::ResNet> load_resnet(const std::string& weights_path,
                                            const std::string& expected_model) {
  LoadedModel loaded = load_model(weights_path, expected_model);
  SALIENCY_CHECK(loaded.network->architecture() == "resnet", weights_path, ": holds a ",
                 loaded.network->architecture(), ", not a ResNet");
  return std::unique_ptr<models::ResNet>(static_cast<models::ResNet*>(loaded.network.release()));
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

Tensor load_model_input(const std::string& path, const Preprocessing& preprocessing) {
  if (!path.ends_with(".npy")) {
    const RgbImage image = load_image(path, preprocessing.limits);
    try {
      return preprocess(image, preprocessing);
    } catch (const InvalidArgument& error) {
      throw InvalidArgument(concat(path, ": ", error.what()));  // name the file
    }
  }
  Tensor tensor = weights::read_npy(path).to(DType::Float32);
  if (tensor.rank() == 3) tensor = tensor.view({1, tensor.size(0), tensor.size(1), tensor.size(2)});
  SALIENCY_CHECK(tensor.rank() == 4 && tensor.size(0) == 1 && tensor.size(1) == 3, path,
                 ": expected a normalized image tensor [3, H, W] or [1, 3, H, W], got ",
                 tensor.shape());
  return tensor;
}

std::vector<Prediction> top_k(const Tensor& logits, int64_t k,
                              const std::vector<std::string>& labels) {
  SALIENCY_CHECK(logits.rank() == 1, "top_k: expected one row of logits, got ", logits.shape());
  const std::vector<double> values = logits.to_vector();
  const std::vector<double> probabilities =
      softmax(logits.to(DType::Float64).view({1, logits.numel()}), 1).to_vector();
  std::vector<int64_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(order.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return values[a] > values[b]; });
  const auto& names = labels.size() == values.size() ? labels : imagenet_class_names();
  std::vector<Prediction> result;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t c = order[i];
    result.push_back(
        {c, values[c], probabilities[c], values.size() == names.size() ? names[c] : std::string()});
  }
  return result;
}

}  // namespace saliency
