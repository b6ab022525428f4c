// ResNet-50 at 224x224 with seeded weights: a forward pass (no graph) and a vanilla gradient
// (forward + backward to the input, weights frozen), per image, with BatchNorm folded or not.
// benchmarks/compare_pytorch.py gives PyTorch's times for the same work.
#include <benchmark/benchmark.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/factory.h"
#include "models/resnet.h"

namespace {

using namespace saliency;

// Seeded ResNet-50s, built once: as loaded, and with BatchNorm folded into the convs.
models::ResNet& resnet50(bool folded) {
  static models::ResNet* models[2] = {nullptr, nullptr};
  if (!models[folded]) {
    models[folded] = new models::ResNet(models::ResNetConfig::named("resnet50"));
    Generator generator(0);
    models[folded]->initialize(generator);
    if (folded) models[folded]->fold_batch_norm();
  }
  return *models[folded];
}

void Forward(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const bool folded = state.range(1);
  resnet50(folded);  // built outside the timed loop
  Generator gen(1);
  const Tensor image = randn({batch, 3, 224, 224}, gen);
  autograd::NoGradGuard inference;
  for (auto _ : state) benchmark::DoNotOptimize(resnet50(folded).forward(image).raw_data());
  state.counters["images/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void VanillaGradient(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const bool folded = state.range(1);
  resnet50(folded);
  Generator gen(2);
  const Tensor pixels = randn({batch, 3, 224, 224}, gen);
  for (auto _ : state) {
    Tensor image = pixels.detach().set_requires_grad(true);
    const Tensor logits = resnet50(folded).forward(image);
    autograd::backward(sum(select(logits, 1, 207)));
    benchmark::DoNotOptimize(image.grad().raw_data());
  }
  state.counters["images/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(Forward)
    ->ArgsProduct({{1, 8}, {0, 1}})
    ->ArgNames({"batch", "bn_folded"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(VanillaGradient)
    ->ArgsProduct({{1, 8}, {0, 1}})
    ->ArgNames({"batch", "bn_folded"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
