#include "models/vit.h"

#include <cmath>

#include "autograd/tap.h"
#include "core/error.h"
#include "core/factory.h"

namespace saliency::models {
namespace {

std::string block_name(size_t index) {
  return "encoder.layers.encoder_layer_" + std::to_string(index);
}

// x [N, T, D] through a fully connected layer applied to every token.
Tensor per_token(const nn::Linear& layer, const Tensor& x) {
  const int64_t n = x.size(0), t = x.size(1);
  const Tensor y = layer.forward(reshape(x, {n * t, x.size(2)}));
  return reshape(y, {n, t, y.size(1)});
}

// The patch tokens of x [N, 1 + h w, D] as a feature map [N, D, h, w] through tap point
// `name`, and back: the rest of the forward pass continues from the tapped map, so its
// gradient is the gradient of those tokens (pytorch-grad-cam's reshape transform).
Tensor tap_patch_grid(const std::string& name, const Tensor& x, int64_t grid) {
  const int64_t n = x.size(0), d = x.size(2), patches = grid * grid;
  const Tensor map = autograd::tap_point(
      name, reshape(permute(narrow(x, 1, 1, patches), {0, 2, 1}), {n, d, grid, grid}));
  const Tensor tokens = permute(reshape(map, {n, d, patches}), {0, 2, 1});
  return concat({narrow(x, 1, 0, 1), tokens}, 1);
}

// nn.MultiheadAttention's parameters: in_proj_weight [3D, D], in_proj_bias [3D], out_proj.
struct AttentionParameters : nn::Module {
  explicit AttentionParameters(int64_t hidden)
      : in_proj_weight(register_parameter("in_proj_weight", zeros({3 * hidden, hidden}))),
        in_proj_bias(register_parameter("in_proj_bias", zeros({3 * hidden}))),
        out_proj(register_module("out_proj", std::make_shared<nn::Linear>(hidden, hidden))) {}
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<nn::Linear> out_proj;
};

// torchvision's MLPBlock: Linear "0", GELU, Dropout, Linear "3", Dropout (no dropout at
// inference).
struct Mlp : nn::Module {
  Mlp(int64_t hidden, int64_t width)
      : fc1(register_module("0", std::make_shared<nn::Linear>(hidden, width))),
        fc2(register_module("3", std::make_shared<nn::Linear>(width, hidden))) {}
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// A module that only groups children and parameters under a name ("encoder", "heads").
struct Container : nn::Module {
  Tensor add_parameter(std::string name, Tensor value) {
    return register_parameter(std::move(name), std::move(value));
  }
  template <typename M>
  std::shared_ptr<M> add_module(std::string name, std::shared_ptr<M> module) {
    return register_module(std::move(name), std::move(module));
  }
};

}  // namespace

// One pre-norm block: x + attention(ln_1(x)), then + mlp(ln_2(x)).
class VisionTransformer::EncoderBlock : public nn::Module {
 public:
  EncoderBlock(const VitConfig& c, std::string name)
      : name_(std::move(name)), heads_(c.heads), grid_(c.grid()) {
    ln_1_ = register_module("ln_1", std::make_shared<nn::LayerNorm>(c.hidden, 1e-6));
    attention_ = register_module("self_attention", std::make_shared<AttentionParameters>(c.hidden));
    ln_2_ = register_module("ln_2", std::make_shared<nn::LayerNorm>(c.hidden, 1e-6));
    mlp_ = register_module("mlp", std::make_shared<Mlp>(c.hidden, c.mlp));
  }

  Tensor forward(const Tensor& x) const {
    Tensor y = ln_1_->forward(x);
    const std::string cam_name = name_ + ".ln_1";
    if (autograd::tap_requested(cam_name)) y = tap_patch_grid(cam_name, y, grid_);
    Tensor out = add(x, self_attention(y));
    out = add(out, per_token(*mlp_->fc2, gelu(per_token(*mlp_->fc1, ln_2_->forward(out)))));
    return autograd::tap_point(name_, out);
  }

 private:
  // softmax(Q K^T / sqrt(d)) V per head, heads joined and projected.
  Tensor self_attention(const Tensor& x) const {
    const int64_t n = x.size(0), t = x.size(1), d = x.size(2), head_dim = d / heads_;
    const Tensor qkv = linear(reshape(x, {n * t, d}), attention_->in_proj_weight,
                              attention_->in_proj_bias);  // [N T, 3 D]
    // [N, T, 3, heads, head_dim] -> [3, N, heads, T, head_dim]
    const Tensor split = permute(reshape(qkv, {n, t, 3, heads_, head_dim}), {2, 0, 3, 1, 4});
    const Tensor q = select(split, 0, 0), k = select(split, 0, 1), v = select(split, 0, 2);
    const Tensor scores =
        mul_scalar(matmul(q, permute(k, {0, 1, 3, 2})), 1.0 / std::sqrt(double(head_dim)));
    const Tensor attention = autograd::tap_point(name_ + ".attention", softmax(scores, 3));
    const Tensor context = permute(matmul(attention, v), {0, 2, 1, 3});  // [N, T, heads, hd]
    return per_token(*attention_->out_proj, reshape(context, {n, t, d}));
  }

  std::string name_;
  int64_t heads_, grid_;
  std::shared_ptr<nn::LayerNorm> ln_1_, ln_2_;
  std::shared_ptr<AttentionParameters> attention_;
  std::shared_ptr<Mlp> mlp_;
};

VitConfig VitConfig::named(std::string_view name, int64_t num_classes) {
  VitConfig c;
  c.num_classes = num_classes;
  if (name == "vit_b_16")
    c.patch_size = 16;
  else if (name == "vit_b_32")
    c.patch_size = 32;
  else if (name == "vit_l_16" || name == "vit_l_32")
    c.patch_size = name == "vit_l_16" ? 16 : 32, c.layers = 24, c.heads = 16, c.hidden = 1024,
    c.mlp = 4096;
  else if (name == "vit_h_14")
    c.patch_size = 14, c.layers = 32, c.heads = 16, c.hidden = 1280, c.mlp = 5120;
  else
    throw InvalidArgument(concat("unknown model '", name,
                                 "' (known: vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14)"));
  return c;
}

bool is_vit_state_dict(const std::map<std::string, Tensor>& state) {
  return state.count("conv_proj.weight") > 0;
}

VitConfig VitConfig::from_state_dict(const std::map<std::string, Tensor>& state,
                                     const std::map<std::string, std::string>& metadata,
                                     std::string_view source) {
  auto require = [&](const std::string& key, int64_t rank) -> const Tensor& {
    auto it = state.find(key);
    SALIENCY_CHECK(it != state.end(), source, ": not a torchvision ViT state dict (no '", key,
                   "')");
    SALIENCY_CHECK(it->second.rank() == rank, source, ": ", key, " ", it->second.shape(),
                   " should have rank ", rank);
    return it->second;
  };
  const Tensor& patch = require("conv_proj.weight", 4);
  const Tensor& positions = require("encoder.pos_embedding", 3);
  VitConfig c;
  c.hidden = patch.size(0);
  c.patch_size = patch.size(2);
  const auto grid = static_cast<int64_t>(std::lround(std::sqrt(double(positions.size(1) - 1))));
  SALIENCY_CHECK(grid >= 1 && grid * grid + 1 == positions.size(1), source,
                 ": encoder.pos_embedding has ", positions.size(1),
                 " tokens, not a square grid plus the class token");
  c.image_size = grid * c.patch_size;
  c.layers = 0;
  while (state.count(block_name(size_t(c.layers)) + ".ln_1.weight")) ++c.layers;
  SALIENCY_CHECK(c.layers > 0, source, ": no encoder layers");
  c.mlp = require(block_name(0) + ".mlp.0.weight", 2).size(0);
  c.num_classes = require("heads.head.weight", 2).size(0);
  if (auto it = metadata.find("saliency.vit.heads"); it != metadata.end()) {
    const std::string& text = it->second;
    SALIENCY_CHECK(!text.empty() && text.size() < 6 &&
                       text.find_first_not_of("0123456789") == std::string::npos,
                   source, ": metadata saliency.vit.heads must be a count, got '", text, "'");
    c.heads = std::stoll(text);
  } else {
    c.heads = c.hidden == 768 ? 12 : (c.hidden == 1024 || c.hidden == 1280) ? 16 : c.hidden / 64;
  }
  SALIENCY_CHECK(c.heads >= 1 && c.hidden % c.heads == 0, source, ": ", c.heads,
                 " heads do not divide the width ", c.hidden);
  return c;
}

VisionTransformer::VisionTransformer(const VitConfig& c) : config_(c) {
  SALIENCY_CHECK(c.patch_size >= 1 && c.image_size % c.patch_size == 0 && c.hidden % c.heads == 0 &&
                     c.layers >= 1 && c.num_classes >= 1,
                 "VisionTransformer: inconsistent configuration (image ", c.image_size, ", patch ",
                 c.patch_size, ", width ", c.hidden, ", heads ", c.heads, ")");
  conv_proj_ = register_module(
      "conv_proj", std::make_shared<nn::Conv2d>(
                       3, c.hidden, c.patch_size,
                       nn::Conv2d::Options{.stride = c.patch_size, .padding = 0, .bias = true}));
  class_token_ = register_parameter("class_token", zeros({1, 1, c.hidden}));
  auto encoder = register_module("encoder", std::make_shared<Container>());
  pos_embedding_ =
      encoder->add_parameter("pos_embedding", zeros({1, c.grid() * c.grid() + 1, c.hidden}));
  auto layers = encoder->add_module("layers", std::make_shared<Container>());
  for (int64_t i = 0; i < c.layers; ++i)
    blocks_.push_back(layers->add_module("encoder_layer_" + std::to_string(i),
                                         std::make_shared<EncoderBlock>(c, block_name(size_t(i)))));
  final_norm_ = encoder->add_module("ln", std::make_shared<nn::LayerNorm>(c.hidden, 1e-6));
  auto heads = register_module("heads", std::make_shared<Container>());
  head_ = heads->add_module("head", std::make_shared<nn::Linear>(c.hidden, c.num_classes));
}

Tensor VisionTransformer::forward(const Tensor& image) const {
  const VitConfig& c = config_;
  SALIENCY_CHECK(image.rank() == 4 && image.size(1) == 3 && image.size(2) == c.image_size &&
                     image.size(3) == c.image_size,
                 "VisionTransformer: expected images [N, 3, ", c.image_size, ", ", c.image_size,
                 "], got ", image.shape());
  const int64_t n = image.size(0), patches = c.grid() * c.grid();
  // Patches [N, D, h, w] -> tokens [N, h w, D], the class token in front.
  const Tensor tokens =
      permute(reshape(conv_proj_->forward(image), {n, c.hidden, patches}), {0, 2, 1});
  // The class token repeated for each image (broadcasting add keeps its gradient).
  const Tensor cls = add(zeros({n, 1, c.hidden}, image.dtype()).to(image.device()), class_token_);
  Tensor x = add(concat({cls, tokens}, 1), pos_embedding_);
  for (const auto& block : blocks_) x = block->forward(x);
  x = final_norm_->forward(x);
  return autograd::tap_point("heads", head_->forward(select(x, 1, 0)));
}

std::string VisionTransformer::default_cam_layer() const {
  return block_name(blocks_.size() - 1) + ".ln_1";
}

std::vector<std::string> VisionTransformer::randomization_cascade() const {
  std::vector<std::string> cascade{"heads"};
  for (size_t i = blocks_.size(); i-- > 0;) cascade.push_back(block_name(i));
  cascade.push_back("conv_proj");
  return cascade;
}

void VisionTransformer::canonize_for_lrp() {
  throw InvalidArgument(
      "LRP is implemented for ResNets only: attention has no LRP rules here yet "
      "(use attention rollout or a gradient method on a ViT)");
}

std::vector<std::string> VisionTransformer::attention_taps() const {
  std::vector<std::string> taps;
  for (size_t i = 0; i < blocks_.size(); ++i) taps.push_back(block_name(i) + ".attention");
  return taps;
}

void VisionTransformer::initialize(Generator& generator) {
  for (auto& [name, tensor] : named_parameters()) {
    if (name.ends_with(".bias") || name.ends_with("in_proj_bias")) {
      tensor.fill(0.0);
    } else if (name.find(".ln") != std::string::npos && name.ends_with(".weight")) {
      tensor.fill(1.0);
    } else {
      // Normal with std 1/sqrt(fan-in) for weights; 0.02 for the embeddings (torchvision).
      const int64_t fan_in = tensor.rank() >= 2 ? tensor.numel() / tensor.size(0) : 1;
      const double sd = (name == "class_token" || name == "encoder.pos_embedding")
                            ? 0.02
                            : 1.0 / std::sqrt(double(fan_in));
      tensor.copy_from(mul_scalar(randn(tensor.shape(), generator), sd));
    }
  }
}

}  // namespace saliency::models
