#pragma once
// Supervised training of a classifier in the engine: mini-batches from a DataLoader, the
// module in training mode (BatchNorm with batch statistics), cross-entropy, backward to every
// parameter, an optimizer step with a warmup + cosine learning-rate schedule; evaluation in
// inference mode after each epoch; resumable checkpoints in safetensors.
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"
#include "train/data_loader.h"
#include "train/optimizer.h"
#include "weights/tensor_file.h"

namespace saliency::train {

using Forward = std::function<Tensor(const Tensor&)>;

struct TrainOptions {
  int64_t epochs = 6;
  int64_t batch_size = 64;
  std::string optimizer = "sgd";  // "sgd" (Nesterov, momentum 0.9) or "adam" (AdamW)
  double learning_rate = 0.05;
  double weight_decay = 5e-4;  // on weights only, not on biases or BatchNorm parameters
  double label_smoothing = 0.0;
  int64_t warmup_steps = 100;
  uint64_t seed = 0;
  std::string checkpoint = "";  // when set: model + optimizer state written after every epoch
  std::string resume = "";      // when set: continue from this checkpoint
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based
  double loss = 0, train_accuracy = 0, test_accuracy = 0;
  double learning_rate = 0;  // at the end of the epoch
  double seconds = 0;
};

// Fraction of `data` that `forward` classifies correctly (inference mode, no graph).
double accuracy(const Forward& forward, const Dataset& data, int64_t batch_size = 128);

// Trains `module` in place and returns one report per epoch run (also given to on_epoch as
// they finish). `test` may be null.
std::vector<EpochReport> fit(nn::Module& module, const Forward& forward, const Dataset& train,
                             const Dataset* test, const TrainOptions& options,
                             const std::function<void(const EpochReport&)>& on_epoch = {});

// A module's state dict plus, optionally, an optimizer's state ("optimizer.<param>.<slot>",
// step count in the metadata), so training can resume exactly.
void save_checkpoint(const std::string& path, const nn::Module& module,
                     const weights::Metadata& metadata, const Optimizer* optimizer = nullptr);
// Loads what save_checkpoint wrote; returns the metadata.
weights::Metadata load_checkpoint(const std::string& path, nn::Module& module,
                                  Optimizer* optimizer = nullptr);

}  // namespace saliency::train
