// ResNet-50 at 224x224 with seeded weights: a forward pass (no graph) and a vanilla gradient
// (forward + backward to the input, weights frozen), per image. Compare with
// benchmarks/pytorch_resnet.py run on the same machine right after.
#include <benchmark/benchmark.h>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/factory.h"
#include "models/resnet.h"

namespace {

using namespace saliency;

models::ResNet& resnet50() {
  static models::ResNet* model = [] {
    auto* m = new models::ResNet(models::ResNetConfig::named("resnet50"));
    Generator generator(0);
    m->initialize(generator);
    return m;
  }();
  return *model;
}

void Forward(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Generator gen(1);
  const Tensor image = randn({batch, 3, 224, 224}, gen);
  autograd::NoGradGuard inference;
  for (auto _ : state) benchmark::DoNotOptimize(resnet50().forward(image).raw_data());
  state.counters["images/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void VanillaGradient(benchmark::State& state) {
  const int64_t batch = state.range(0);
  Generator gen(2);
  const Tensor pixels = randn({batch, 3, 224, 224}, gen);
  for (auto _ : state) {
    Tensor image = pixels.detach().set_requires_grad(true);
    const Tensor logits = resnet50().forward(image);
    autograd::backward(sum(select(logits, 1, 207)));
    benchmark::DoNotOptimize(image.grad().raw_data());
  }
  state.counters["images/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(Forward)->Arg(1)->Arg(8)->ArgName("batch")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(VanillaGradient)
    ->Arg(1)
    ->Arg(8)
    ->ArgName("batch")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
