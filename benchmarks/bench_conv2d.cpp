// conv2d forward and backward-to-input kernels on the convolution shapes of ResNet-50 at
// 224x224 (torchvision layout: stride on the 3x3 conv), batch 1 and 8. The FLOP/s counter is
// 2 * multiply-adds per second; compare with bench_fma_peak's 2-thread line.
//
// cold_weights:1 (batch 1) rotates through copies of the weights spanning 64 MB, so that every
// call reads its weights from DRAM, as a layer of a network pass does (ResNet-50's 100 MB of
// weights do not stay cached from one pass to the next); cold_weights:0 keeps one copy, which
// stays in cache from call to call. The 3x3 stride-1 layers also run cold at batch 2 and 4:
// with SALIENCY_CONV=winograd against the default, these are the runs behind Winograd's
// minimum tile count (conv2d_winograd.cpp, winograd_conv2d_applies).
#include <benchmark/benchmark.h>

#include <vector>

#include "core/tensor.h"

#include "core/factory.h"
#include "kernels/cpu/conv2d.h"
#include "resnet50_conv_layers.h"

namespace {

using saliency::kernels::cpu::Conv2dGeometry;

using saliency::benchmarks::ConvLayer;
using saliency::benchmarks::geometry;

// One copy of the weights, or (cold) as many as span kColdBytes, handed out in turn.
class Weights {
 public:
  Weights(const Conv2dGeometry& g, bool cold, saliency::Generator& gen) {
    constexpr int64_t kColdBytes = int64_t(64) << 20;
    const int64_t count = g.out_channels * g.in_channels * g.kernel_h * g.kernel_w;
    const int64_t copies = cold ? kColdBytes / int64_t(sizeof(float) * count) + 1 : 1;
    for (int64_t i = 0; i < copies; ++i)
      copies_.push_back(
          saliency::randn({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, gen));
  }
  const float* next() { return copies_[next_++ % copies_.size()].data<float>(); }

 private:
  std::vector<saliency::Tensor> copies_;
  size_t next_ = 0;
};

void set_flops(benchmark::State& state, const Conv2dGeometry& g) {
  state.counters["FLOP/s"] =
      benchmark::Counter(g.forward_flops(), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void Forward(benchmark::State& state, ConvLayer layer) {
  const Conv2dGeometry g = geometry(layer, state.range(0));
  saliency::Generator gen(1);
  const auto input = saliency::randn({g.batch, g.in_channels, g.in_h, g.in_w}, gen);
  Weights weights(g, state.range(1) != 0, gen);
  auto output = saliency::zeros({g.batch, g.out_channels, g.out_h(), g.out_w()});
  for (auto _ : state) {
    saliency::kernels::cpu::conv2d_forward(g, input.data<float>(), weights.next(),
                                           static_cast<const float*>(nullptr),
                                           output.data<float>());
    benchmark::ClobberMemory();
  }
  set_flops(state, g);
}

void BackwardInput(benchmark::State& state, ConvLayer layer) {
  const Conv2dGeometry g = geometry(layer, state.range(0));
  saliency::Generator gen(2);
  const auto grad_output = saliency::randn({g.batch, g.out_channels, g.out_h(), g.out_w()}, gen);
  Weights weights(g, state.range(1) != 0, gen);
  auto grad_input = saliency::zeros({g.batch, g.in_channels, g.in_h, g.in_w});
  for (auto _ : state) {
    saliency::kernels::cpu::conv2d_backward_input(g, grad_output.data<float>(), weights.next(),
                                                  grad_input.data<float>());
    benchmark::ClobberMemory();
  }
  set_flops(state, g);
}

// batch 1 and 8 with warm weights, batch 1 cold; 3x3 stride-1 layers cold at batch 2 and 4 too.
void add_arguments(benchmark::internal::Benchmark* bench, const ConvLayer& layer) {
  const Conv2dGeometry g = geometry(layer, 1);
  bench->ArgsProduct({{1, 8}, {0}})->Args({1, 1});
  if (g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1)
    bench->Args({2, 1})->Args({4, 1});
  bench->ArgNames({"batch", "cold_weights"})->UseRealTime()->Unit(benchmark::kMillisecond);
}

int register_all = [] {
  for (const ConvLayer& layer : saliency::benchmarks::kResNet50ConvLayers) {
    add_arguments(benchmark::RegisterBenchmark(
                      (std::string("conv2d_forward/") + layer.name).c_str(), Forward, layer),
                  layer);
    add_arguments(
        benchmark::RegisterBenchmark((std::string("conv2d_backward_input/") + layer.name).c_str(),
                                     BackwardInput, layer),
        layer);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
