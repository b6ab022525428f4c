#include "saliency/demo_model.h"

#include "weights/tensor_file.h"

// The assembler copies the file into read-only data at build time (.incbin): no multi-megabyte
// C array to compile. CMake passes the path and rebuilds this unit when the file changes.
__asm__(
    ".section .rodata\n"
    ".balign 64\n"
    ".global saliency_shapes_model_begin\n"
    ".hidden saliency_shapes_model_begin\n"
    "saliency_shapes_model_begin:\n"
    ".incbin \"" SALIENCY_SHAPES_MODEL_PATH
    "\"\n"
    ".global saliency_shapes_model_end\n"
    ".hidden saliency_shapes_model_end\n"
    "saliency_shapes_model_end:\n"
    ".previous\n");

extern "C" const uint8_t saliency_shapes_model_begin[];
extern "C" const uint8_t saliency_shapes_model_end[];

namespace saliency {

std::span<const uint8_t> embedded_shapes_model_bytes() {
  return {saliency_shapes_model_begin, saliency_shapes_model_end};
}

LoadedModel load_shapes_model() {
  const std::string source = "embedded shapes model (" SALIENCY_SHAPES_MODEL_NAME ")";
  weights::Metadata metadata;
  const weights::TensorMap state =
      weights::read_safetensors(embedded_shapes_model_bytes(), source, &metadata);
  return load_model(state, metadata, source);
}

}  // namespace saliency
