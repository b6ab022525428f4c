// `saliency explain IMAGE... --method M[,M...]|all`: attributions for images (or .npy inputs)
// with a ResNet, written as heatmaps, overlays, a side-by-side grid and raw .npy tensors.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include <unistd.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "saliency/baselines.h"
#include "saliency/methods.h"
#include "saliency/predict.h"
#include "saliency/visualize.h"
#include "tools/commands.h"
#include "weights/tensor_file.h"

namespace saliency::cli {
namespace {

struct ExplainOptions {
  std::vector<std::string> images;
  std::string weights, model, methods = "vanilla", target = "auto", layer, fusion = "mean";
  std::string ig_method = "gausslegendre", baseline = "zero", noise, out = "outputs", save_raw;
  std::string colormap, preset = "paper", smooth_method, lrp_preset = "epsilon-plus-flat";
  std::string device = "cpu";
  std::function<bool(const std::string&)> given;  // whether the user set an option
  int64_t steps = 50, samples = 50, batch_size = 16;
  int64_t max_image_pixels = ImageLimits{}.max_pixels;
  double noise_level = 0.15, percentile = 99.0, lrp_epsilon = 1e-6, lrp_gamma = 0.25;
  double discard_ratio = 0.0;
  uint64_t seed = 0;
  bool json = false;
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// "auto" (the top class), class indices, or class names, comma-separated.
std::vector<int64_t> parse_targets(const std::string& text, int64_t classes, int64_t top,
                                   const std::vector<std::string>& names) {
  std::vector<int64_t> targets;
  for (const std::string& part : split(text)) {
    if (part == "auto") {
      targets.push_back(top);
    } else if (part.find_first_not_of("0123456789") == std::string::npos) {
      const int64_t index = std::stoll(part);
      SALIENCY_CHECK(index < classes, "--target ", index, " is out of range for ", classes,
                     " classes");
      targets.push_back(index);
    } else {
      const auto it = std::find(names.begin(), names.end(), part);
      SALIENCY_CHECK(classes == int64_t(names.size()) && it != names.end(), "--target '", part,
                     "' is not a class name of this model");
      targets.push_back(it - names.begin());
    }
  }
  SALIENCY_CHECK(!targets.empty(), "--target: no target named");
  return targets;
}

// The preset's defaults, overridden by every option the user gave.
MethodOptions method_options(const ExplainOptions& o, const Tensor& input,
                             const LoadedModel& model) {
  MethodOptions options = MethodOptions::preset(o.preset);
  adapt_options(options, model, !o.layer.empty());
  if (!o.layer.empty()) options.layer = o.layer;
  options.rollout.fusion = o.fusion;
  options.rollout.discard_ratio = o.discard_ratio;
  options.batch_size = o.batch_size;
  if (o.given("--samples")) options.smoothgrad.samples = o.samples;
  if (o.given("--noise-level")) {
    options.smoothgrad.noise_level = o.noise_level;
    options.smoothgrad.absolute_stdev = -1;
  }
  options.smoothgrad.seed = o.seed;
  if (!o.noise.empty()) options.smoothgrad.noise = weights::read_npy(o.noise);
  if (!o.smooth_method.empty()) options.smoothgrad.base = parse_method(o.smooth_method);
  options.integrated_gradients = {o.steps, o.ig_method, make_baseline(o.baseline, input, o.seed)};
  options.lrp.preset = o.lrp_preset;
  options.lrp.epsilon = o.lrp_epsilon;
  options.lrp.gamma = o.lrp_gamma;
  return options;
}

std::string format_probability(double probability) {
  char text[32];
  std::snprintf(text, sizeof(text), "p = %.1f%%", 100 * probability);
  return text;
}

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f s", seconds);
  return text;
}

std::string raw_path(const ExplainOptions& o, const std::string& stem, bool several) {
  if (!several) return o.save_raw;
  const std::string base =
      o.save_raw.ends_with(".npy") ? o.save_raw.substr(0, o.save_raw.size() - 4) : o.save_raw;
  return base + "_" + stem + ".npy";
}

// The pictures (and raw tensor) of one explanation, and its JSON entry.
struct Rendered {
  RgbImage overlay;
  nlohmann::json item;
};

Rendered render(const ExplainOptions& o, const Explanation& explanation, const RgbImage& picture,
                const std::string& stem, const std::string& upsampling, bool several) {
  const Method method = explanation.method;
  const RgbImage heat = render_heatmap(explanation, picture.height, picture.width, upsampling,
                                       o.colormap, o.percentile);
  Rendered rendered{overlay(picture, heat), {}};
  const std::string heat_path = (std::filesystem::path(o.out) / (stem + ".png")).string();
  const std::string overlay_path =
      (std::filesystem::path(o.out) / (stem + "_overlay.png")).string();
  write_png(heat_path, heat);
  write_png(overlay_path, rendered.overlay);
  rendered.item = {{"method", method_name(method)},
                   {"target", explanation.target},
                   {"heatmap", heat_path},
                   {"overlay", overlay_path}};
  if (!std::isnan(explanation.delta)) rendered.item["delta"] = explanation.delta;
  if (!o.save_raw.empty()) {
    const std::string raw = raw_path(o, stem, several);
    weights::write_npy(raw, explanation.attribution);
    rendered.item["raw"] = raw;
  }
  return rendered;
}

int run_explain(const ExplainOptions& o) {
  const std::string weights_path = o.weights.empty() ? default_weights_path() : o.weights;
  const LoadedModel loaded = load_model(weights_path, o.model);
  const Device device = parse_device(o.device);
  const std::vector<Method> methods = parse_methods(o.methods, supported_methods(*loaded.network));
  prepare_for(loaded, methods);
  move_to(loaded, device);
  const Classifier classifier = classifier_on(*loaded.network, device);
  const size_t outputs = o.images.size() * methods.size();
  // A progress line on stderr, only when a person is watching it.
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  size_t done = 0, total = outputs * split(o.target).size();
  nlohmann::json report = nlohmann::json::array();

  for (const std::string& image_path : o.images) {
    Preprocessing preprocessing = loaded.info.preprocessing();
    preprocessing.limits.max_pixels = o.max_image_pixels;
    const Tensor input = load_model_input(image_path, preprocessing);
    Tensor logits;
    {
      autograd::NoGradGuard inference;
      logits = classifier(input);
    }
    const Prediction top = top_k(logits.select_batch(0), 1, loaded.info.labels).front();
    const std::vector<double> probabilities = softmax(logits.to(DType::Float64), 1).to_vector();
    const std::vector<int64_t> targets =
        parse_targets(o.target, logits.size(1), top.index, loaded.info.labels);
    MethodOptions options = method_options(o, input, loaded);
    options.device = device;
    const RgbImage picture = to_image(input);
    const std::string image_stem = std::filesystem::path(image_path).stem().string();
    nlohmann::json entry{{"image", image_path},
                         {"predicted", {{"index", top.index}, {"prob", top.probability}}},
                         {"explanations", nlohmann::json::array()}};
    if (!top.label.empty()) entry["predicted"]["name"] = top.label;

    std::vector<RgbImage> grid{with_caption(
        picture,
        {image_stem,
         "predicted: " + (top.label.empty() ? "class " + std::to_string(top.index) : top.label),
         format_probability(top.probability)})};
    for (int64_t target : targets) {
      for (Method method : methods) {
        if (show_progress)
          std::fprintf(stderr, "\r[%zu/%zu] %s: %s ...\033[K", ++done, total, image_stem.c_str(),
                       method_name(method).c_str());
        const auto start = std::chrono::steady_clock::now();
        const Explanation explanation = explain(classifier, input, method, target, options);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string stem = image_stem + "_" + method_name(method) +
                                 (targets.size() > 1 ? "_class" + std::to_string(target) : "");
        Rendered rendered = render(o, explanation, picture, stem, options.upsampling,
                                   outputs > 1 || targets.size() > 1);
        rendered.item["seconds"] = seconds;
        grid.push_back(with_caption(
            rendered.overlay,
            {method_name(method),
             "class " + std::to_string(target) +
                 (loaded.info.labels.empty() ? "" : ": " + loaded.info.label(target)),
             format_probability(probabilities[target]) + ", " + format_seconds(seconds)}));
        if (!o.json)
          std::printf(
              "%s: %s for class %lld in %.2f s -> %s%s\n", image_path.c_str(),
              method_name(method).c_str(), static_cast<long long>(target), seconds,
              rendered.item["overlay"].get<std::string>().c_str(),
              std::isnan(explanation.delta)
                  ? ""
                  : (" (completeness delta " + std::to_string(explanation.delta) + ")").c_str());
        entry["explanations"].push_back(rendered.item);
      }
    }
    if (grid.size() > 2) {
      const std::string grid_path =
          (std::filesystem::path(o.out) / (image_stem + "_grid.png")).string();
      write_png(grid_path, side_by_side(grid));
      entry["grid"] = grid_path;
      if (!o.json) std::printf("%s: grid -> %s\n", image_path.c_str(), grid_path.c_str());
    }
    report.push_back(entry);
  }
  if (show_progress) std::fprintf(stderr, "\r\033[K");
  if (o.json)
    for (const auto& entry : report) std::cout << entry.dump() << "\n";
  return 0;
}

}  // namespace

Command add_explain_command(CLI::App& app) {
  auto o = std::make_shared<ExplainOptions>();
  auto* c = app.add_subcommand("explain",
                               "Explain a classifier's prediction with saliency maps (heatmap and "
                               "overlay PNGs per method, a grid for several, raw .npy on request)");
  c->add_option("images", o->images, "Image files or normalized .npy tensors")->required();
  c->add_option("--method", o->methods,
                "Comma-separated methods or 'all': vanilla, grad-x-input, smoothgrad, "
                "smoothgrad-sq, vargrad, integrated-gradients, gradcam, guided-backprop, "
                "deconvnet, guided-gradcam, lrp (ResNets), rollout (ViTs)")
      ->capture_default_str();
  c->add_option("--weights", o->weights,
                "ResNet weights (.safetensors or torchvision .pth; default: $SALIENCY_WEIGHTS, "
                "else weights/resnet50.safetensors)");
  c->add_option("--model", o->model,
                "Check the weights are this model (resnet18..resnet152, vgg11..vgg19[_bn], "
                "vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14)");
  c->add_option("--target", o->target,
                "auto (top class), a class index or ImageNet name; several, comma-separated, "
                "give one map each")
      ->capture_default_str();
  c->add_option("--layer", o->layer,
                "Grad-CAM layer (default: layer4 on a ResNet, the last block's ln_1 on a ViT; "
                "maxpool, layer1..layer4, layer3.5, encoder.layers.encoder_layer_5.ln_1, ...)");
  c->add_option("--fusion", o->fusion, "Attention rollout: how heads combine")
      ->check(CLI::IsMember({"mean", "max", "min"}))
      ->capture_default_str();
  c->add_option("--discard-ratio", o->discard_ratio,
                "Attention rollout: zero this fraction of the lowest attentions per layer")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  c->add_option("--steps", o->steps, "Integrated Gradients steps")->capture_default_str();
  c->add_option("--ig-method", o->ig_method,
                "gausslegendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid")
      ->capture_default_str();
  c->add_option("--baseline", o->baseline, "IG baseline: zero, black, blur, uniform or FILE.npy")
      ->capture_default_str();
  c->add_option("--samples", o->samples, "SmoothGrad samples")->capture_default_str();
  c->add_option("--noise-level", o->noise_level,
                "SmoothGrad noise stdev as a fraction of the input's range")
      ->capture_default_str();
  c->add_option("--noise", o->noise,
                "SmoothGrad noise tensors [n, 3, H, W] (.npy) added to the input; overrides "
                "--samples and --noise-level");
  c->add_option("--seed", o->seed, "Seed for SmoothGrad noise and the uniform baseline")
      ->capture_default_str();
  c->add_option("--batch-size", o->batch_size, "Samples or path points per pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--device", o->device,
                "cpu or cuda: where the network runs (every method runs on either)")
      ->capture_default_str();
  c->add_option("--out", o->out, "Folder for the pictures")->capture_default_str();
  c->add_option("--save-raw", o->save_raw,
                "Write the raw attribution to FILE.npy (with several images or methods, "
                "FILE_<image>_<method>.npy)");
  c->add_option("--colormap", o->colormap,
                "viridis, inferno, jet or coolwarm (default: inferno, coolwarm for signed maps)");
  c->add_option("--percentile", o->percentile, "Clip the map at this percentile of |values|")
      ->capture_default_str();
  c->add_option("--preset", o->preset,
                "Defaults from the papers, or Captum's (SmoothGrad: 5 samples, absolute stdev "
                "1.0; Grad-CAM: no ReLU, nearest upsampling); explicit options still win")
      ->check(CLI::IsMember({"paper", "captum"}))
      ->capture_default_str();
  c->add_option("--smooth-method", o->smooth_method,
                "What SmoothGrad averages: the signed gradient (default), or vanilla, "
                "grad-x-input, guided-backprop, deconvnet (e.g. smooth guided backprop)");
  c->add_option("--lrp-preset", o->lrp_preset,
                "LRP rules by layer: epsilon-plus-flat (flat first layer, z+ convolutions) or "
                "epsilon-gamma-box (z-box first layer, gamma convolutions); dense layers use "
                "epsilon, as Zennit's composites")
      ->check(CLI::IsMember({"epsilon-plus-flat", "epsilon-gamma-box"}))
      ->capture_default_str();
  c->add_option("--lrp-epsilon", o->lrp_epsilon, "LRP epsilon of the fully connected layers")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--lrp-gamma", o->lrp_gamma, "LRP gamma of the convolutions (epsilon-gamma-box)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--max-image-pixels", o->max_image_pixels,
                "Refuse images whose header claims more pixels (checked before decoding)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_flag("--json", o->json, "One JSON object per image on stdout");
  o->given = [c](const std::string& name) { return c->count(name) > 0; };
  return [o] { return run_explain(*o); };
}

}  // namespace saliency::cli
