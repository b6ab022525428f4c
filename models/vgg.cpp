#include "models/vgg.h"

#include <cmath>

#include "core/error.h"
#include "core/factory.h"

namespace saliency::models {
namespace {

const std::map<std::string, std::vector<int64_t>, std::less<>> kLayouts{
    {"vgg11", {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0}},
    {"vgg13", {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0}},
    {"vgg16", {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}},
    {"vgg19",
     {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0}},
};

std::string feature(int64_t index) {
  return "features." + std::to_string(index);
}

}  // namespace

VggConfig VggConfig::named(std::string_view name, int64_t num_classes) {
  const bool bn = name.ends_with("_bn");
  const std::string_view base = bn ? name.substr(0, name.size() - 3) : name;
  const auto it = kLayouts.find(base);
  SALIENCY_CHECK(it != kLayouts.end(), "unknown model '", name,
                 "' (known: vgg11, vgg13, vgg16, vgg19, each also with _bn)");
  VggConfig c;
  c.features = it->second;
  c.batch_norm = bn;
  c.num_classes = num_classes;
  return c;
}

bool is_vgg_state_dict(const std::map<std::string, Tensor>& state) {
  return state.count("features.0.weight") > 0 && state.count("classifier.0.weight") > 0;
}

VggConfig VggConfig::from_state_dict(const std::map<std::string, Tensor>& state,
                                     std::string_view source) {
  VggConfig c;
  c.batch_norm = state.count("features.1.running_mean") > 0;
  int64_t last = -1;
  for (const auto& [key, tensor] : state)
    if (key.starts_with("features.")) {
      const std::string index = key.substr(9, key.find('.', 9) - 9);
      SALIENCY_CHECK(!index.empty() && index.size() < 6 &&
                         index.find_first_not_of("0123456789") == std::string::npos,
                     source, ": unexpected key ", key);
      last = std::max<int64_t>(last, std::stoll(index));
    }
  for (int64_t i = 0; i <= last;) {
    const auto conv = state.find(feature(i) + ".weight");
    if (conv == state.end()) {  // a max pool has no parameters
      c.features.push_back(0);
      ++i;
      continue;
    }
    SALIENCY_CHECK(conv->second.rank() == 4, source, ": ", conv->first, " ", conv->second.shape(),
                   " is not a convolution weight");
    c.features.push_back(conv->second.size(0));
    i += c.batch_norm ? 3 : 2;  // conv, [BN,] ReLU
  }
  c.features.push_back(0);  // the final max pool
  SALIENCY_CHECK(c.features.size() > 1 && c.features.front() > 0, source,
                 ": no convolutions under features");
  const auto first = state.find("classifier.0.weight");
  const auto head = state.find("classifier.6.weight");
  SALIENCY_CHECK(head != state.end() && first->second.rank() == 2 && head->second.rank() == 2,
                 source, ": not a torchvision VGG classifier (classifier.0 / classifier.6)");
  int64_t last_width = 0;
  for (int64_t w : c.features) last_width = w > 0 ? w : last_width;
  const int64_t cells = first->second.size(1) / last_width;
  c.pool_size = std::lround(std::sqrt(double(cells)));
  SALIENCY_CHECK(c.pool_size * c.pool_size * last_width == first->second.size(1), source,
                 ": classifier.0.weight ", first->second.shape(), " does not take ", last_width,
                 " channels on a square grid");
  c.classifier_width = first->second.size(0);
  c.num_classes = head->second.size(0);
  return c;
}

Vgg::Vgg(const VggConfig& c) : config_(c) {
  features_ = register_module("features", std::make_shared<nn::Sequential>());
  int64_t channels = 3, index = 0;
  for (int64_t width : c.features) {
    if (width == 0) {
      features_->append_function(
          [](const Tensor& x) { return max_pool2d(x, {.kernel = 2, .stride = 2}); });
      ++index;
      continue;
    }
    auto conv = features_->append(std::make_shared<nn::Conv2d>(
        channels, width, 3, nn::Conv2d::Options{.padding = 1, .bias = true}));
    std::shared_ptr<nn::BatchNorm2d> bn;
    if (c.batch_norm) bn = features_->append(std::make_shared<nn::BatchNorm2d>(width));
    features_->append_function([](const Tensor& x) { return relu(x); });
    convs_.emplace_back(conv, bn);
    conv_names_.push_back(feature(index));
    index += c.batch_norm ? 3 : 2;
    cam_layer_ = feature(index - 1);  // the ReLU just appended
    channels = width;
  }
  classifier_ = register_module("classifier", std::make_shared<nn::Sequential>());
  const int64_t in = channels * c.pool_size * c.pool_size;
  linears_.push_back(classifier_->append(std::make_shared<nn::Linear>(in, c.classifier_width)));
  classifier_->append_function([](const Tensor& x) { return relu(x); });
  classifier_->append_function([](const Tensor& x) { return x; });  // Dropout
  linears_.push_back(
      classifier_->append(std::make_shared<nn::Linear>(c.classifier_width, c.classifier_width)));
  classifier_->append_function([](const Tensor& x) { return relu(x); });
  classifier_->append_function([](const Tensor& x) { return x; });  // Dropout
  linears_.push_back(
      classifier_->append(std::make_shared<nn::Linear>(c.classifier_width, c.num_classes)));
}

Tensor Vgg::forward(const Tensor& image) const {
  SALIENCY_CHECK(image.rank() == 4 && image.size(1) == 3,
                 "VGG: expected an image batch [N, 3, H, W], got ", image.shape());
  const Tensor x = features_->forward(image, "features");
  const Tensor pooled = adaptive_avg_pool2d(x, config_.pool_size);
  return classifier_->forward(flatten(pooled), "classifier");
}

std::string Vgg::default_cam_layer() const {
  return cam_layer_;
}

std::vector<std::string> Vgg::randomization_cascade() const {
  std::vector<std::string> cascade{"classifier.6", "classifier.3", "classifier.0"};
  for (size_t i = conv_names_.size(); i-- > 0;) cascade.push_back(conv_names_[i]);
  return cascade;
}

void Vgg::canonize_for_lrp() {
  for (auto& [conv, bn] : convs_)
    if (bn && !bn->folded()) conv->absorb_batch_norm(*bn);
}

void Vgg::initialize(Generator& generator) {
  for (auto& [conv, bn] : convs_) conv->initialize(generator);  // BatchNorm stays at 1 and 0
  for (auto& linear : linears_) {
    Tensor weight = linear->weight(), bias = linear->bias();
    weight.copy_from(mul_scalar(randn(weight.shape(), generator), 0.01));
    bias.fill(0.0);
  }
}

}  // namespace saliency::models
