// `saliency predict IMAGE... --weights FILE`: classify photos with a ResNet loaded from a
// torchvision-layout safetensors file, through torchvision's evaluation transform.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "saliency/image.h"
#include "saliency/predict.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

struct PredictOptions {
  std::vector<std::string> images;
  std::string weights, model;
  int64_t top = 5;
  bool json = false;
};

int run_predict(const PredictOptions& options) {
  const std::unique_ptr<models::ResNet> model = load_resnet(options.weights, options.model);
  autograd::NoGradGuard inference;
  nlohmann::json report = nlohmann::json::array();
  for (const std::string& path : options.images) {
    const Tensor logits = model->forward(preprocess(load_image(path)));
    const std::vector<Prediction> predictions = top_k(logits.select_batch(0), options.top);
    if (options.json) {
      nlohmann::json entry{{"image", path}, {"predictions", nlohmann::json::array()}};
      for (const Prediction& p : predictions) {
        nlohmann::json item{{"class", p.index}, {"probability", p.probability}, {"logit", p.logit}};
        if (!p.label.empty()) item["label"] = p.label;
        entry["predictions"].push_back(item);
      }
      report.push_back(entry);
      continue;
    }
    std::printf("%s\n", path.c_str());
    for (size_t i = 0; i < predictions.size(); ++i) {
      const Prediction& p = predictions[i];
      std::printf("  %zu. %6.2f%%  class %lld%s%s\n", i + 1, 100 * p.probability,
                  static_cast<long long>(p.index), p.label.empty() ? "" : ": ", p.label.c_str());
    }
  }
  if (options.json) std::cout << report.dump(2) << "\n";
  return 0;
}

}  // namespace

Command add_predict_command(CLI::App& app) {
  auto options = std::make_shared<PredictOptions>();
  auto* command =
      app.add_subcommand("predict",
                         "Classify images with a ResNet (torchvision's preprocessing: resize 256, "
                         "center crop 224, ImageNet normalization)");
  command->add_option("images", options->images, "Image files (JPEG, PNG, BMP, TGA, GIF)")
      ->required();
  command
      ->add_option("--weights", options->weights,
                   "ResNet weights in torchvision layout (.safetensors); "
                   "scripts/get-weights.sh fetches ImageNet ones where the internet is")
      ->required();
  command->add_option("--model", options->model,
                      "Check the weights are this model: resnet18, resnet34, resnet50, "
                      "resnet101, resnet152 (default: whatever the file describes)");
  command->add_option("--top", options->top, "How many classes to list")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--json", options->json, "Print JSON instead of text");
  return [options] { return run_predict(*options); };
}

}  // namespace saliency::cli
