#pragma once
// Tensor files: the formats weights and reference data come in.
//  - safetensors: the project's native weight format (torchvision keys, F32).
//  - PyTorch checkpoints (.pth): torchvision's published weights, read natively.
//  - .npy: single tensors (images, attributions, reference outputs), float32/float64, C order.
// Readers validate everything before trusting it and throw InvalidArgument naming the file
// (and the key) on anything malformed; nothing large is allocated before the header checks.
#include <cstdint>
#include <map>
#include <span>
#include <string>

#include "core/tensor.h"

namespace saliency::weights {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Headers above this size are refused (the real ones are a few tens of kB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// Reads every tensor (F32 or F64) straight from the file into its own storage.
TensorMap read_safetensors(const std::string& path, Metadata* metadata = nullptr);
// The same from memory (a file embedded in the binary); `name` stands for the path in errors.
TensorMap read_safetensors(std::span<const uint8_t> bytes, const std::string& name,
                           Metadata* metadata = nullptr);
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const Metadata& metadata = {});

// PyTorch checkpoints (torch.save of a state dict: zip or legacy format) without Python.
// float32/float64 tensors load; BatchNorm's int64 num_batches_tracked counters are skipped.
TensorMap read_pth(const std::string& path);
// By extension: .pth / .pt / .bin as PyTorch checkpoints, anything else as safetensors (whose
// metadata, if any, goes to `metadata`).
TensorMap read_weights(const std::string& path, Metadata* metadata = nullptr);

Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace saliency::weights
