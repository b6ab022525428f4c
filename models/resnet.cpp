#include "models/resnet.h"

#include <cmath>
#include "autograd/tap.h"

#include "core/error.h"
#include "core/factory.h"

namespace saliency::models {
namespace {

// torchvision's stem pooling: 3 x 3, stride 2, padding 1.
const Pool2dOptions kStemPool{.kernel = 3, .stride = 2, .padding = 1};

using ConvBn = std::pair<std::shared_ptr<nn::Conv2d>, std::shared_ptr<nn::BatchNorm2d>>;

// relu(bn(conv(x))); with the BatchNorm folded into the conv, the ReLU joins the conv's store
// (Conv2d::forward_relu: on the CPU, recorded or not, outside SaveForRulesGuard).
Tensor conv_bn_relu(const ConvBn& layers, const Tensor& x) {
  const auto& [conv_layer, batch_norm] = layers;
  if (batch_norm->folded()) return conv_layer->forward_relu(x);
  return relu(batch_norm->forward(conv_layer->forward(x)));
}

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return std::make_shared<nn::Conv2d>(
      in, out, kernel, nn::Conv2d::Options{.stride = stride, .padding = kernel / 2, .bias = false});
}

// A residual block: a chain of conv + BN pairs named conv1/bn1, conv2/bn2, ... with ReLU between
// them, added to the shortcut (identity, or "downsample" when the shape changes), then ReLU.
// BasicBlock is the chain 3x3 (stride), 3x3; Bottleneck is 1x1, 3x3 (stride), 1x1 (x4 width).
class ResidualBlock : public nn::Module {
 public:
  struct ConvSpec {
    int64_t kernel, out_channels, stride;
  };
  ResidualBlock(int64_t in, const std::vector<ConvSpec>& chain) {
    int64_t channels = in, stride = 1;
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string index = std::to_string(i + 1);
      stages_.emplace_back(
          register_module("conv" + index,
                          conv(channels, chain[i].out_channels, chain[i].kernel, chain[i].stride)),
          register_module("bn" + index, std::make_shared<nn::BatchNorm2d>(chain[i].out_channels)));
      channels = chain[i].out_channels;
      stride *= chain[i].stride;
    }
    if (stride != 1 || in != channels) {
      // 1x1 conv + BN when the shortcut changes shape: "downsample.0" and "downsample.1".
      downsample_ = register_module("downsample", std::make_shared<nn::Sequential>());
      shortcut_ = {downsample_->append(conv(in, channels, 1, stride)),
                   downsample_->append(std::make_shared<nn::BatchNorm2d>(channels))};
    }
  }

  void fold_batch_norm() {
    for (auto& [conv_layer, batch_norm] : stages_)
      if (!batch_norm->folded()) conv_layer->absorb_batch_norm(*batch_norm);
    if (downsample_ && !shortcut_.second->folded())
      shortcut_.first->absorb_batch_norm(*shortcut_.second);
  }

  Tensor forward(const Tensor& x) const {
    Tensor out = x;
    for (size_t i = 0; i + 1 < stages_.size(); ++i) out = conv_bn_relu(stages_[i], out);
    const Tensor shortcut = downsample_ ? downsample_->forward(x) : x;
    const auto& [last_conv, last_bn] = stages_.back();
    // With the BatchNorm folded, the shortcut and the ReLU join the last conv's store.
    if (last_bn->folded()) return last_conv->forward_add_relu(out, shortcut);
    return add_relu(last_bn->forward(last_conv->forward(out)), shortcut);
  }

 private:
  std::vector<ConvBn> stages_;
  std::shared_ptr<nn::Sequential> downsample_;
  ConvBn shortcut_;  // the layers inside downsample_
};

int64_t expansion(BlockKind kind) {
  return kind == BlockKind::Basic ? 1 : 4;
}

std::shared_ptr<ResidualBlock> make_block(BlockKind kind, int64_t in, int64_t planes,
                                          int64_t stride) {
  if (kind == BlockKind::Basic)
    return std::make_shared<ResidualBlock>(
        in, std::vector<ResidualBlock::ConvSpec>{{3, planes, stride}, {3, planes, 1}});
  return std::make_shared<ResidualBlock>(
      in, std::vector<ResidualBlock::ConvSpec>{
              {1, planes, 1}, {3, planes, stride}, {1, planes * 4, 1}});
}

// One stage: blocks "0".."n-1"; the first may change stride and width.
std::shared_ptr<nn::Sequential> make_layer(BlockKind kind, int64_t& in, int64_t planes,
                                           int64_t blocks, int64_t stride) {
  auto layer = std::make_shared<nn::Sequential>();
  for (int64_t i = 0; i < blocks; ++i) {
    layer->append(make_block(kind, in, planes, i == 0 ? stride : 1));
    in = planes * expansion(kind);
  }
  return layer;
}

}  // namespace

ResNetConfig ResNetConfig::named(std::string_view name, int64_t num_classes) {
  ResNetConfig config;
  config.num_classes = num_classes;
  if (name == "resnet18")
    config.block = BlockKind::Basic, config.layers = {2, 2, 2, 2};
  else if (name == "resnet34")
    config.block = BlockKind::Basic, config.layers = {3, 4, 6, 3};
  else if (name == "resnet50")
    config.layers = {3, 4, 6, 3};
  else if (name == "resnet101")
    config.layers = {3, 4, 23, 3};
  else if (name == "resnet152")
    config.layers = {3, 8, 36, 3};
  else
    throw InvalidArgument(concat("unknown model '", name,
                                 "' (known: resnet18, resnet34, resnet50, resnet101, resnet152)"));
  return config;
}

ResNetConfig ResNetConfig::from_state_dict(const std::map<std::string, Tensor>& state,
                                           std::string_view source) {
  auto require = [&](const std::string& key) -> const Tensor& {
    auto it = state.find(key);
    SALIENCY_CHECK(it != state.end(), source, ": not a torchvision ResNet state dict (no '", key,
                   "')");
    return it->second;
  };
  const Tensor& stem = require("conv1.weight");
  const Tensor& fc = require("fc.weight");
  SALIENCY_CHECK(stem.rank() == 4 && fc.rank() == 2, source, ": conv1.weight ", stem.shape(),
                 " or fc.weight ", fc.shape(), " has the wrong rank for a ResNet");
  ResNetConfig config;
  config.base_width = stem.size(0);
  config.num_classes = fc.size(0);
  config.block = state.count("layer1.0.conv3.weight") ? BlockKind::Bottleneck : BlockKind::Basic;
  for (size_t k = 0; k < 4; ++k) {
    int64_t blocks = 0;
    const std::string prefix = "layer" + std::to_string(k + 1) + ".";
    while (state.count(prefix + std::to_string(blocks) + ".conv1.weight")) ++blocks;
    SALIENCY_CHECK(blocks > 0, source, ": no blocks in ", prefix.substr(0, prefix.size() - 1));
    config.layers[k] = blocks;
  }
  return config;
}

std::map<std::string, std::string> ResNetConfig::metadata() const {
  return {{"saliency.resnet.stem_max_pool", stem_max_pool ? "true" : "false"}};
}

void ResNetConfig::apply_metadata(const std::map<std::string, std::string>& metadata,
                                  std::string_view source) {
  auto it = metadata.find("saliency.resnet.stem_max_pool");
  if (it == metadata.end()) return;  // torchvision's files: the standard stem
  SALIENCY_CHECK(it->second == "true" || it->second == "false", source,
                 ": metadata saliency.resnet.stem_max_pool must be true or false, got '",
                 it->second, "'");
  stem_max_pool = it->second == "true";
}

ResNet::ResNet(const ResNetConfig& config) : config_(config) {
  SALIENCY_CHECK(config.base_width >= 1 && config.num_classes >= 1, "ResNet: base width ",
                 config.base_width, " and class count ", config.num_classes, " must be positive");
  const int64_t base = config.base_width;
  conv1_ = register_module(
      "conv1", std::make_shared<nn::Conv2d>(
                   3, base, 7, nn::Conv2d::Options{.stride = 2, .padding = 3, .bias = false}));
  bn1_ = register_module("bn1", std::make_shared<nn::BatchNorm2d>(base));
  int64_t in = base;
  for (size_t k = 0; k < 4; ++k) {
    const int64_t planes = base << k, stride = k == 0 ? 1 : 2;
    layers_[k] = register_module("layer" + std::to_string(k + 1),
                                 make_layer(config.block, in, planes, config.layers[k], stride));
  }
  fc_ = register_module("fc", std::make_shared<nn::Linear>(in, config.num_classes));
}

Tensor ResNet::features(const Tensor& image, int64_t stages) const {
  SALIENCY_CHECK(image.rank() == 4 && image.size(1) == 3,
                 "ResNet: expected an image batch "
                 "[N, 3, H, W], got ",
                 image.shape());
  SALIENCY_CHECK(stages >= 1 && stages <= 4, "ResNet: stages must be 1..4, got ", stages);
  Tensor x = conv_bn_relu({conv1_, bn1_}, image);
  if (config_.stem_max_pool) x = max_pool2d(x, kStemPool);
  return run_stages(x, stages);
}

Tensor ResNet::run_stages(Tensor x, int64_t stages) const {
  x = autograd::tap_point("maxpool", x);
  for (size_t k = 0; k < size_t(stages); ++k) {
    const std::string name = "layer" + std::to_string(k + 1);
    x = autograd::tap_point(name, layers_[k]->forward(x, name));
  }
  return x;
}

Tensor ResNet::forward(const Tensor& image) const {
  return head(features(image));
}

Tensor ResNet::head(const Tensor& features) const {
  return autograd::tap_point("fc", fc_->forward(flatten(adaptive_avg_pool2d(features, 1))));
}

bool ResNet::has_affine_input_layer() const {
  return bn1_->folded() || !bn1_->is_training();
}

Tensor ResNet::input_layer(const Tensor& image) const {
  SALIENCY_CHECK(image.rank() == 4 && image.size(1) == 3,
                 "ResNet: expected an image batch [N, 3, H, W], got ", image.shape());
  SALIENCY_CHECK(has_affine_input_layer(),
                 "ResNet: the stem is not affine in the image while its BatchNorm is training");
  const Tensor convolved = conv1_->forward(image);
  return bn1_->folded() ? convolved : bn1_->forward(convolved);
}

Tensor ResNet::forward_from_input_layer(const Tensor& stem) const {
  // The ReLU before the max pooling, as forward() (which fuses it into the convolution). The
  // other order would give the same values and plain gradients over a quarter of the elements,
  // but not the same guided backprop: its ReLU rule would then clip each window's gradient
  // before the pooling's backward sums overlapping windows, instead of clipping the sum. So the
  // pair runs as one pass each way (relu_max_pool2d) and stays two ops for the rules.
  const Tensor x = config_.stem_max_pool ? relu_max_pool2d(stem, kStemPool) : relu(stem);
  return head(run_stages(x, 4));
}

std::vector<std::string> ResNet::randomization_cascade() const {
  return {"fc", "layer4", "layer3", "layer2", "layer1", "conv1"};
}

void ResNet::fold_batch_norm() {
  if (!bn1_->folded()) conv1_->absorb_batch_norm(*bn1_);
  for (size_t k = 0; k < 4; ++k)
    for (size_t i = 0; i < layers_[k]->size(); ++i)
      dynamic_cast<ResidualBlock&>(layers_[k]->child(std::to_string(i))).fold_batch_norm();
}

void ResNet::initialize(Generator& generator) {
  // Every conv weight is 4-D and every other parameter outside fc belongs to a BatchNorm.
  for (auto& [name, tensor] : named_parameters()) {
    if (name.starts_with("fc.")) continue;
    if (tensor.rank() == 4) {
      const double fan_out = double(tensor.size(0) * tensor.size(2) * tensor.size(3));
      tensor.copy_from(mul_scalar(randn(tensor.shape(), generator), std::sqrt(2.0 / fan_out)));
    } else {
      tensor.fill(name.ends_with(".weight") ? 1.0 : 0.0);
    }
  }
  for (auto& [name, tensor] : named_buffers()) {
    if (name.ends_with("running_mean")) tensor.fill(0.0);
    if (name.ends_with("running_var")) tensor.fill(1.0);
  }
  fc_->initialize(generator);
}

}  // namespace saliency::models
