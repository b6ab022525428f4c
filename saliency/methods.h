#pragma once
// The saliency methods, each a short composition of engine features: which backward rule set,
// which tap, how many forward/backward passes in what batches, and how to reduce. None touches
// a kernel. The target is the logit (pre-softmax) of a class; see docs/methods.md.
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "autograd/rules.h"
#include "core/tensor.h"
#include "saliency/classifier.h"
#include "saliency/lrp.h"

namespace saliency {

enum class Method {
  Vanilla,              // |d y_c / d x|                           (Simonyan 2013; Captum Saliency)
  GradientXInput,       // x * d y_c / d x
  SmoothGrad,           // mean of d y_c / d x over noisy copies     (Smilkov 2017)
  SmoothGradSquared,    // mean of squared gradients
  VarGrad,              // variance of the gradients
  IntegratedGradients,  // (x - x') * path integral of the gradient  (Sundararajan 2017)
  GradCam,              // relu(sum_k alpha_k A_k) at a layer       (Selvaraju 2017)
  GuidedBackprop,       // gradient through guided ReLUs             (Springenberg 2015)
  Deconvnet,            // gradient through deconvnet ReLUs          (Zeiler & Fergus 2014)
  GuidedGradCam,        // guided backprop * upsampled Grad-CAM
  Lrp,                  // relevance of the target logit by LRP rules (Bach 2015; Zennit)
  AttentionRollout,     // attention multiplied through the layers (Abnar & Zuidema 2020)
};
Method parse_method(const std::string& name);  // "vanilla", "grad-x-input", ... as in the CLI
std::vector<Method> all_methods();
// A comma-separated list of those names, or "all" (= `all`, by default every method; the CLI
// passes the methods the loaded model supports).
std::vector<Method> parse_methods(const std::string& list,
                                  const std::vector<Method>& all = all_methods());
std::string method_name(Method method);

struct SmoothGradOptions {
  int64_t samples = 50;
  double noise_level = 0.15;  // noise stdev = noise_level * (max(x) - min(x))
  uint64_t seed = 0;
  Tensor noise;  // optional [n, C, H, W]: exactly these noise tensors (overrides samples/level)
  double absolute_stdev = -1;  // >= 0: this stdev instead of the noise level (Captum's stdevs)
  // The attribution averaged over the noisy copies: the plain signed gradient when unset, else
  // vanilla, grad-x-input, guided-backprop or deconvnet (e.g. "smooth guided backprop").
  std::optional<Method> base;
};

struct IntegratedGradientsOptions {
  int64_t steps = 50;
  // gausslegendre (Captum's default), riemann_left, riemann_right, riemann_middle,
  // riemann_trapezoid; nodes and weights exactly as Captum's approximation_methods.py.
  std::string approximation = "gausslegendre";
  Tensor baseline;  // same shape as the input; undefined means zeros
};

struct LrpOptions {
  std::string preset = "epsilon-plus-flat";  // or "epsilon-gamma-box" (see saliency/lrp.h)
  double epsilon = 1e-6;                     // the epsilon rule of fully connected layers
  double gamma = 0.25;                       // epsilon-gamma-box's convolutions
  double stabilizer = 1e-6;                  // every other rule's denominator shift
  // z^B's box (epsilon-gamma-box): per-channel bounds of the normalized input. Empty means
  // pixels in [0, 1] under ImageNet's normalization.
  std::vector<double> low, high;
  std::optional<LrpComposite> custom;  // any composite; replaces the preset when set

  LrpComposite composite() const;
};

struct RolloutOptions {
  std::string fusion = "mean";  // how heads combine: mean (the paper), max or min
  double discard_ratio = 0.0;   // zero this fraction of the lowest fused attentions per layer
  // Tap points of the attention maps, first layer first; empty: torchvision's ViT names
  // ("encoder.layers.encoder_layer_<i>.attention"), as many as the model has.
  std::vector<std::string> taps;
};

struct MethodOptions {
  SmoothGradOptions smoothgrad;
  IntegratedGradientsOptions integrated_gradients;
  std::string layer = "layer4";  // Grad-CAM's tap point
  bool gradcam_relu = true;      // the paper's ReLU; Captum's LayerGradCam omits it by default
  std::string upsampling = "bilinear";  // Grad-CAM to input size: bilinear or nearest (Captum)
  int64_t batch_size = 16;              // noisy samples / path points per forward+backward pass
  // Where Integrated Gradients and SmoothGrad build their batches (path points, noisy copies)
  // and sum the gradients: the device the model runs on (see classifier_on), so those need not
  // cross to the host and back. The attribution is returned on the host either way.
  Device device = Device::cpu();
  LrpOptions lrp;
  RolloutOptions rollout;

  // The paper defaults above, or Captum's: SmoothGrad 5 samples with absolute stdev 1.0,
  // Grad-CAM without ReLU and with nearest upsampling; IG is the same in both.
  static MethodOptions preset(const std::string& name);
};

struct Explanation {
  Method method;
  int64_t target = -1;
  // Vanilla .. IG, GuidedBackprop, Deconvnet, GuidedGradCam, Lrp: [1, C, H, W] like the input.
  // GradCam: [1, 1, h, w] at the layer's resolution; AttentionRollout: [1, 1, h, w] on the
  // patch grid.
  Tensor attribution;
  // IG only: completeness delta sum(attribution) - (f(x) - f(baseline)).
  double delta = std::numeric_limits<double>::quiet_NaN();
};

// --- the engine features the methods are made of ---

// What the backward pass starts from at each target logit: 1 (a gradient), or the logit's own
// value (LRP: the relevance to distribute is the score).
enum class Seed { One, Logit };

// d(sum_n logits[n, targets[n]]) / d inputs for a batch, with `rules` (if any) replacing
// backward rules. targets has one entry per row, or one for all rows. Returns the gradients;
// `logits` (optional) receives the forward output.
Tensor input_gradients(const Classifier& model, const Tensor& inputs,
                       const std::vector<int64_t>& targets,
                       const autograd::RuleSet* rules = nullptr, Tensor* logits = nullptr,
                       Seed seed = Seed::One);

// The backward of a classifier's first layer (Classifier::Split): A^T output_gradient, the
// gradient at its input of sum(first(x) * output_gradient), the same at every x as first is
// affine. `like` is an image batch of the input's shape, on first's device.
Tensor first_layer_backward(const Classifier::Split& split, const Tensor& output_gradient,
                            const Tensor& like);

// Runs fn(begin, end) over [0, count) in the fewest chunks of at most batch_size, their sizes
// differing by at most one: the one loop every sampling method (IG steps, SmoothGrad samples)
// uses, so memory stays bounded.
void for_each_chunk(int64_t count, int64_t batch_size,
                    const std::function<void(int64_t begin, int64_t end)>& fn);

// Captum's integration nodes (alphas) and weights for `steps` points.
void integration_rule(const std::string& approximation, int64_t steps, std::vector<double>& alphas,
                      std::vector<double>& weights);

// The class with the largest logit for a single image [1, C, H, W].
int64_t top_class(const Classifier& model, const Tensor& input);

// --- the methods; input is one image [1, C, H, W]; target < 0 means the top class ---

Explanation explain(const Classifier& model, const Tensor& input, Method method,
                    int64_t target = -1, const MethodOptions& options = {});

}  // namespace saliency
