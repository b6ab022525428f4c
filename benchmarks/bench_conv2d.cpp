// conv2d forward and backward-to-input kernels on the convolution shapes of ResNet-50 at
// 224x224 (torchvision layout: stride on the 3x3 conv), batch 1 and 8. The FLOP/s counter is
// 2 * multiply-adds per second; compare with bench_fma_peak's 2-thread line.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/factory.h"
#include "kernels/cpu/conv2d.h"
#include "resnet50_conv_layers.h"

namespace {

using saliency::kernels::cpu::Conv2dGeometry;

using saliency::benchmarks::ConvLayer;
using saliency::benchmarks::geometry;

void set_flops(benchmark::State& state, const Conv2dGeometry& g) {
  state.counters["FLOP/s"] =
      benchmark::Counter(g.forward_flops(), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void Forward(benchmark::State& state, ConvLayer layer) {
  const Conv2dGeometry g = geometry(layer, state.range(0));
  saliency::Generator gen(1);
  const auto input = saliency::randn({g.batch, g.in_channels, g.in_h, g.in_w}, gen);
  const auto weight = saliency::randn({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, gen);
  auto output = saliency::zeros({g.batch, g.out_channels, g.out_h(), g.out_w()});
  for (auto _ : state) {
    saliency::kernels::cpu::conv2d_forward(g, input.data<float>(), weight.data<float>(),
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
  const auto weight = saliency::randn({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, gen);
  auto grad_input = saliency::zeros({g.batch, g.in_channels, g.in_h, g.in_w});
  for (auto _ : state) {
    saliency::kernels::cpu::conv2d_backward_input(g, grad_output.data<float>(),
                                                  weight.data<float>(), grad_input.data<float>());
    benchmark::ClobberMemory();
  }
  set_flops(state, g);
}

int register_all = [] {
  for (const ConvLayer& layer : saliency::benchmarks::kResNet50ConvLayers) {
    benchmark::RegisterBenchmark((std::string("conv2d_forward/") + layer.name).c_str(), Forward,
                                 layer)
        ->Arg(1)
        ->Arg(8)
        ->ArgName("batch")
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("conv2d_backward_input/") + layer.name).c_str(),
                                 BackwardInput, layer)
        ->Arg(1)
        ->Arg(8)
        ->ArgName("batch")
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
