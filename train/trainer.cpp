#include "train/trainer.h"

#include <chrono>
#include <memory>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"

namespace saliency::train {
namespace {

const std::string kOptimizerPrefix = "optimizer.";

// A count from a checkpoint's metadata; malformed files get a message naming them.
int64_t metadata_count(const std::string& path, const std::string& key, const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 18 &&
                      text.find_first_not_of("0123456789") == std::string::npos;
  SALIENCY_CHECK(digits, path, ": metadata ", key, " must be a non-negative integer, got '", text,
                 "'");
  return std::stoll(text);
}

int64_t count_correct(const Tensor& logits, const std::vector<int64_t>& labels) {
  const int64_t rows = logits.size(0), classes = logits.size(1);
  const Tensor on_host = logits.to(Device::cpu()).to(DType::Float32);
  const float* values = on_host.data<float>();
  int64_t correct = 0;
  for (int64_t n = 0; n < rows; ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < classes; ++k)
      if (values[n * classes + k] > values[n * classes + best]) best = k;
    correct += best == labels[n];
  }
  return correct;
}

std::unique_ptr<Optimizer> make_optimizer(nn::Module& module, const TrainOptions& options) {
  auto parameters = decay_weights_only(module.named_parameters(), options.weight_decay);
  if (options.optimizer == "sgd")
    return std::make_unique<Sgd>(std::move(parameters), options.learning_rate,
                                 SgdOptions{.momentum = 0.9, .nesterov = true});
  if (options.optimizer == "adam")
    return std::make_unique<Adam>(std::move(parameters), options.learning_rate,
                                  AdamOptions{.decoupled_weight_decay = true});
  throw InvalidArgument(concat("unknown optimizer '", options.optimizer, "' (sgd or adam)"));
}

}  // namespace

double accuracy(const Forward& forward, const Dataset& data, int64_t batch_size) {
  autograd::NoGradGuard no_grad;
  DataLoader loader(data, {.batch_size = batch_size, .shuffle = false});
  Batch batch;
  int64_t correct = 0;
  while (loader.next(batch)) correct += count_correct(forward(batch.inputs), batch.labels);
  return double(correct) / double(data.size());
}

std::vector<EpochReport> fit(nn::Module& module, const Forward& forward, const Dataset& train,
                             const Dataset* test, const TrainOptions& options,
                             const std::function<void(const EpochReport&)>& on_epoch) {
  SALIENCY_CHECK(options.epochs >= 1, "train: epochs must be >= 1, got ", options.epochs);
  module.set_requires_grad(true);
  std::unique_ptr<Optimizer> optimizer = make_optimizer(module, options);
  int64_t first_epoch = 0;
  if (!options.resume.empty()) {
    const weights::Metadata metadata = load_checkpoint(options.resume, module, optimizer.get());
    auto it = metadata.find("saliency.training.epoch");
    SALIENCY_CHECK(it != metadata.end(), options.resume, ": not a training checkpoint (no epoch)");
    first_epoch = metadata_count(options.resume, it->first, it->second);
  }
  DataLoader loader(train,
                    {.batch_size = options.batch_size, .drop_last = true, .seed = options.seed});
  const int64_t total_steps = options.epochs * loader.batches_per_epoch();

  std::vector<EpochReport> reports;
  for (int64_t epoch = first_epoch; epoch < options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    module.train();
    loader.start_epoch(epoch);
    Batch batch;
    double loss_sum = 0;
    int64_t correct = 0, seen = 0, batches = 0;
    while (loader.next(batch)) {
      optimizer->set_learning_rate(cosine_learning_rate(
          options.learning_rate, optimizer->steps_taken(), total_steps, options.warmup_steps));
      optimizer->zero_grad();
      const Tensor logits = forward(batch.inputs);
      const Tensor loss = cross_entropy(logits, batch.labels, options.label_smoothing);
      autograd::backward(loss);
      optimizer->step();
      loss_sum += loss.item();
      correct += count_correct(logits.detach(), batch.labels);
      seen += logits.size(0);
      ++batches;
    }
    module.eval();
    EpochReport report{.epoch = epoch + 1,
                       .loss = loss_sum / double(batches),
                       .train_accuracy = double(correct) / double(seen),
                       .test_accuracy = test ? accuracy(forward, *test) : 0.0,
                       .learning_rate = optimizer->learning_rate()};
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!options.checkpoint.empty())
      save_checkpoint(options.checkpoint, module,
                      {{"saliency.training.epoch", std::to_string(epoch + 1)}}, optimizer.get());
    reports.push_back(report);
    if (on_epoch) on_epoch(report);
  }
  module.set_requires_grad(false);
  return reports;
}

void save_checkpoint(const std::string& path, const nn::Module& module,
                     const weights::Metadata& metadata, const Optimizer* optimizer) {
  weights::TensorMap tensors;
  for (const auto& [name, tensor] : module.state_dict()) tensors[name] = tensor.to(Device::cpu());
  weights::Metadata all = metadata;
  if (optimizer) {
    for (const auto& [name, tensor] : optimizer->state()) tensors[kOptimizerPrefix + name] = tensor;
    all["saliency.optimizer.steps"] = std::to_string(optimizer->steps_taken());
  }
  weights::write_safetensors(path, tensors, all);
}

weights::Metadata load_checkpoint(const std::string& path, nn::Module& module,
                                  Optimizer* optimizer) {
  weights::Metadata metadata;
  weights::TensorMap tensors = weights::read_safetensors(path, &metadata);
  std::map<std::string, Tensor> optimizer_state;
  for (auto it = tensors.begin(); it != tensors.end();) {
    if (it->first.starts_with(kOptimizerPrefix)) {
      optimizer_state[it->first.substr(kOptimizerPrefix.size())] = it->second;
      it = tensors.erase(it);
    } else {
      ++it;
    }
  }
  module.load_state_dict(tensors, path);
  if (optimizer) {
    auto steps = metadata.find("saliency.optimizer.steps");
    SALIENCY_CHECK(steps != metadata.end(), path, ": holds no optimizer state to resume from");
    optimizer->load_state(optimizer_state, metadata_count(path, steps->first, steps->second));
  }
  return metadata;
}

}  // namespace saliency::train
