#include "fuzz_targets.h"

#include <unistd.h>

#include <cstdio>
#include <span>

#include "core/error.h"
#include "saliency/image.h"
#include "tools/cli_app.h"
#include "weights/tensor_file.h"

namespace saliency::fuzz {
namespace {

// Small limits keep each execution fast; the checks they exercise are the same at any size.
constexpr ImageLimits kFuzzImageLimits{.max_pixels = 1 << 16, .max_file_bytes = 1 << 22};

template <typename Fn>
void expecting_only_saliency_errors(const Fn& fn) {
  try {
    fn();
  } catch (const saliency::Error&) {
    // Rejected with a message: the expected outcome for malformed input.
  }
}

// The file loaders take paths: the bytes go to a per-process temporary file.
std::string write_temporary(const uint8_t* data, size_t size, const char* extension) {
  const std::string path = "/tmp/saliency-fuzz-" + std::to_string(getpid()) + extension;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw std::runtime_error("cannot create " + path);
  if (size) std::fwrite(data, 1, size, file);
  std::fclose(file);
  return path;
}

double touch(const weights::TensorMap& tensors) {
  double total = 0;
  for (const auto& [name, tensor] : tensors) total += double(tensor.numel());
  return total;
}

}  // namespace

void image(const uint8_t* data, size_t size) {
  expecting_only_saliency_errors([&] {
    const RgbImage decoded =
        decode_image(std::vector<uint8_t>(data, data + size), "fuzz input", kFuzzImageLimits);
    Preprocessing small;
    small.resize = 32, small.crop = 24, small.limits = kFuzzImageLimits;
    preprocess(decoded, small);
  });
}

void safetensors(const uint8_t* data, size_t size) {
  expecting_only_saliency_errors([&] {
    weights::Metadata metadata;
    touch(weights::read_safetensors(std::span<const uint8_t>(data, size), "fuzz input", &metadata));
  });
}

void npy(const uint8_t* data, size_t size) {
  const std::string path = write_temporary(data, size, ".npy");
  expecting_only_saliency_errors([&] { weights::read_npy(path); });
  std::remove(path.c_str());
}

void pth(const uint8_t* data, size_t size) {
  const std::string path = write_temporary(data, size, ".pth");
  expecting_only_saliency_errors([&] { touch(weights::read_pth(path)); });
  std::remove(path.c_str());
}

void cli(const uint8_t* data, size_t size) {
  // Arguments are the input split at newlines, after the program name.
  std::vector<std::string> arguments{"saliency"};
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      arguments.push_back(current);
      current.clear();
    } else {
      current += static_cast<char>(data[i]);
    }
  }
  if (!current.empty()) arguments.push_back(current);
  expecting_only_saliency_errors([&] { cli::parse_only(arguments); });
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all{
      {"image", image}, {"safetensors", safetensors}, {"npy", npy}, {"pth", pth}, {"cli", cli}};
  return all;
}

}  // namespace saliency::fuzz
