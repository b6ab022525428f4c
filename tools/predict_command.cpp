// `saliency predict IMAGE...`: classify photos (or .npy tensors) with a ResNet loaded from
// torchvision-layout weights, through torchvision's evaluation transform.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "saliency/predict.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

struct PredictOptions {
  std::vector<std::string> images;
  std::string weights, model, device = "cpu";
  int64_t top = 5;
  int64_t batch_size = 8;
  int64_t max_image_pixels = ImageLimits{}.max_pixels;
  bool json = false;
};

void print_text(const std::string& image, const std::vector<Prediction>& predictions) {
  std::printf("%s\n", image.c_str());
  for (size_t i = 0; i < predictions.size(); ++i) {
    const Prediction& p = predictions[i];
    std::printf("  %zu. %6.2f%%  class %lld%s%s\n", i + 1, 100 * p.probability,
                static_cast<long long>(p.index), p.label.empty() ? "" : ": ", p.label.c_str());
  }
}

nlohmann::json to_json(const std::string& image, const std::vector<Prediction>& predictions) {
  nlohmann::json top = nlohmann::json::array();
  for (const Prediction& p : predictions)
    top.push_back({{"index", p.index},
                   {"name", p.label.empty() ? nullptr : nlohmann::json(p.label)},
                   {"prob", p.probability},
                   {"logit", p.logit}});
  return {{"image", image}, {"top", top}};
}

int run_predict(const PredictOptions& options) {
  const std::string weights = options.weights.empty() ? default_weights_path() : options.weights;
  const LoadedModel loaded = load_model(weights, options.model);
  const Device device = parse_device(options.device);
  prepare_for(loaded, {});
  move_to(loaded, device);
  const Classifier model = classifier_on(*loaded.network, device);
  Preprocessing preprocessing = loaded.info.preprocessing();
  preprocessing.limits.max_pixels = options.max_image_pixels;
  autograd::NoGradGuard inference;
  // Images of one batch must share a size: with the standard 224 crop they all do; .npy
  // inputs of other sizes run in batches of their own.
  for (size_t begin = 0; begin < options.images.size();) {
    std::vector<Tensor> inputs{load_model_input(options.images[begin], preprocessing)};
    size_t end = begin + 1;
    for (; end < options.images.size() && int64_t(end - begin) < options.batch_size; ++end) {
      Tensor next = load_model_input(options.images[end], preprocessing);
      if (next.shape() != inputs.front().shape()) break;
      inputs.push_back(next);
    }
    const Tensor logits = model(concat_batch(inputs));
    for (size_t i = begin; i < end; ++i) {
      const std::vector<Prediction> top =
          top_k(logits.select_batch(int64_t(i - begin)), options.top, loaded.info.labels);
      if (options.json)
        std::cout << to_json(options.images[i], top).dump() << "\n";
      else
        print_text(options.images[i], top);
    }
    begin = end;
  }
  return 0;
}

}  // namespace

Command add_predict_command(CLI::App& app) {
  auto options = std::make_shared<PredictOptions>();
  auto* command =
      app.add_subcommand("predict",
                         "Classify images with a ResNet (torchvision's preprocessing: resize 256, "
                         "center crop 224, ImageNet normalization; models whose metadata names an "
                         "input size, like the shapes model, resize to it)");
  command
      ->add_option("images", options->images,
                   "Image files (JPEG, PNG, BMP, TGA, GIF) or normalized .npy tensors")
      ->required();
  command->add_option("--weights", options->weights,
                      "ResNet weights in torchvision layout: .safetensors or torchvision's .pth "
                      "(default: $SALIENCY_WEIGHTS, else weights/resnet50.safetensors)");
  command->add_option("--model", options->model,
                      "Check the weights are this model: resnet18, resnet34, resnet50, "
                      "resnet101, resnet152 (default: whatever the file describes)");
  command->add_option("--topk,--top", options->top, "How many classes to list")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--batch-size", options->batch_size, "Images per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--device", options->device, "cpu or cuda")->capture_default_str();
  command
      ->add_option("--max-image-pixels", options->max_image_pixels,
                   "Refuse images whose header claims more pixels (checked before decoding)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--json", options->json,
                    "One JSON object per image: {\"image\", \"top\": [{\"index\", \"name\", "
                    "\"prob\", \"logit\"}]}");
  return [options] { return run_predict(*options); };
}

}  // namespace saliency::cli
