#pragma once
// The shapes demo model (a small ResNet trained by `saliency train shapes`, committed as
// models/shapes-resnet.safetensors) embedded in the library, so the demo and the examples run
// on a fresh machine with no weights to download.
#include <cstdint>
#include <span>

#include "saliency/predict.h"

namespace saliency {

// The embedded file's bytes (a safetensors file).
std::span<const uint8_t> embedded_shapes_model_bytes();
// The model loaded from them (eval mode, parameters frozen), with its class names and input size.
LoadedModel load_shapes_model();

}  // namespace saliency
