// `saliency convert IN.pth OUT.safetensors`: PyTorch checkpoints to the project's native
// format, without Python (float32/float64 tensors; BatchNorm's int64 counters dropped).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "core/error.h"
#include "tools/commands.h"
#include "weights/tensor_file.h"

namespace saliency::cli {

Command add_convert_command(CLI::App& app) {
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto settings = std::make_shared<std::vector<std::string>>();
  auto* command = app.add_subcommand(
      "convert",
      "Convert a PyTorch checkpoint (.pth, zip or legacy) or a safetensors file to "
      "safetensors (F32)");
  command->add_option("input", *input, "Checkpoint to read")->required();
  command->add_option("output", *output, "safetensors file to write")->required();
  command->add_option("--set", *settings,
                      "Metadata KEY=VALUE to record (repeatable), e.g. saliency.vit.heads=2 for a "
                      "ViT whose head count torchvision's widths do not imply, or "
                      "saliency.input_size=32");
  return [input, output, settings] {
    weights::Metadata metadata{{"converted_from", *input}};
    for (const std::string& setting : *settings) {
      const size_t equals = setting.find('=');
      SALIENCY_CHECK(equals != std::string::npos && equals > 0, "--set: expected KEY=VALUE, got '",
                     setting, "'");
      metadata[setting.substr(0, equals)] = setting.substr(equals + 1);
    }
    weights::TensorMap tensors = weights::read_weights(*input);
    for (auto& [name, tensor] : tensors) tensor = tensor.to(DType::Float32);
    weights::write_safetensors(*output, tensors, metadata);
    std::printf("%s: %zu tensors -> %s\n", input->c_str(), tensors.size(), output->c_str());
    return 0;
  };
}

}  // namespace saliency::cli
