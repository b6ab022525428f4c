#pragma once
// The Vision Transformer (Dosovitskiy et al. 2021) in torchvision's layout (vit_b_16 and
// family): a patch-embedding convolution, a class token, learned position embeddings, pre-norm
// encoder blocks (LayerNorm, multi-head self-attention, LayerNorm, GELU MLP), a final LayerNorm
// and a linear head on the class token. Parameter names equal torchvision's state_dict keys
// (conv_proj, class_token, encoder.pos_embedding, encoder.layers.encoder_layer_<i>.ln_1,
// .self_attention.in_proj_weight, .self_attention.out_proj, .ln_2, .mlp.0, .mlp.3, encoder.ln,
// heads.head).
//
// Tap points: "encoder.layers.encoder_layer_<i>.attention" (softmax attention [N, heads, T, T],
// for attention rollout), "encoder.layers.encoder_layer_<i>" (the block's tokens [N, T, D]) and
// "encoder.layers.encoder_layer_<i>.ln_1" as a feature map [N, D, h, w] of the patch tokens
// (pytorch-grad-cam's reshape transform, for Grad-CAM on a ViT).
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "models/classifier.h"
#include "nn/layers.h"

namespace saliency::models {

struct VitConfig {
  int64_t image_size = 224, patch_size = 16;
  int64_t layers = 12, heads = 12, hidden = 768, mlp = 3072;
  int64_t num_classes = 1000;

  // "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14".
  static VitConfig named(std::string_view name, int64_t num_classes = 1000);
  // Sizes from the tensors' shapes. The head count is not in any shape: it comes from the
  // metadata "saliency.vit.heads" when present, else torchvision's for its widths (768: 12,
  // 1024 and 1280: 16), else hidden / 64.
  static VitConfig from_state_dict(const std::map<std::string, Tensor>& state,
                                   const std::map<std::string, std::string>& metadata,
                                   std::string_view source);
  int64_t grid() const { return image_size / patch_size; }
  bool operator==(const VitConfig&) const = default;
};

// Whether a state dict is a torchvision ViT's (it has conv_proj.weight).
bool is_vit_state_dict(const std::map<std::string, Tensor>& state);

class VisionTransformer : public ImageClassifier {
 public:
  explicit VisionTransformer(const VitConfig& config);
  Tensor forward(const Tensor& image) const override;
  std::string architecture() const override { return "vit"; }
  // The last block's ln_1 as a feature map, as pytorch-grad-cam's ViT example.
  std::string default_cam_layer() const override;
  // heads, the blocks from the last, then conv_proj (LayerNorms, the class token and the
  // position embeddings are left as they are).
  std::vector<std::string> randomization_cascade() const override;
  void canonize_for_lrp() override;  // throws: no LRP rules for attention here
  std::vector<std::string> attention_taps() const override;
  // Seeded random weights for benchmarks and tests: normal with sd 1/sqrt(fan-in) for weights,
  // 0.02 for the embeddings, zero biases, LayerNorms at identity.
  void initialize(Generator& generator);
  const VitConfig& config() const { return config_; }

 private:
  class EncoderBlock;
  VitConfig config_;
  std::shared_ptr<nn::Conv2d> conv_proj_;
  Tensor class_token_, pos_embedding_;
  std::vector<std::shared_ptr<EncoderBlock>> blocks_;
  std::shared_ptr<nn::LayerNorm> final_norm_;
  std::shared_ptr<nn::Linear> head_;
};

}  // namespace saliency::models
