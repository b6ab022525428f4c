// conv2d forward and backward-to-input kernels on the convolution shapes of ResNet-50 at
// 224x224 (torchvision layout: stride on the 3x3 conv), batch 1 and 8. The FLOP/s counter is
// 2 * multiply-adds per second; compare with bench_fma_peak's 2-thread line.
#include <benchmark/benchmark.h>

#include <vector>

#include "core/factory.h"
#include "kernels/cpu/conv2d.h"

namespace {

using saliency::kernels::cpu::Conv2dGeometry;

struct Layer {
  const char* name;
  int64_t in_channels, size, out_channels, kernel, stride;
};

// The distinct convolutions of ResNet-50 (several appear 3-6 times in the network).
const Layer kLayers[] = {
    {"conv1_7x7s2", 3, 224, 64, 7, 2},
    {"layer1_1x1_64to64", 64, 56, 64, 1, 1},
    {"layer1_3x3_64", 64, 56, 64, 3, 1},
    {"layer1_1x1_64to256", 64, 56, 256, 1, 1},
    {"layer1_1x1_256to64", 256, 56, 64, 1, 1},
    {"layer2_3x3s2_128", 128, 56, 128, 3, 2},
    {"layer2_3x3_128", 128, 28, 128, 3, 1},
    {"layer2_1x1_128to512", 128, 28, 512, 1, 1},
    {"layer2_down_1x1s2_256to512", 256, 56, 512, 1, 2},
    {"layer3_3x3_256", 256, 14, 256, 3, 1},
    {"layer3_1x1_1024to256", 1024, 14, 256, 1, 1},
    {"layer4_3x3_512", 512, 7, 512, 3, 1},
    {"layer4_1x1_512to2048", 512, 7, 2048, 1, 1},
};

Conv2dGeometry geometry(const Layer& layer, int64_t batch) {
  return {.batch = batch,
          .in_channels = layer.in_channels,
          .in_h = layer.size,
          .in_w = layer.size,
          .out_channels = layer.out_channels,
          .kernel_h = layer.kernel,
          .kernel_w = layer.kernel,
          .stride_h = layer.stride,
          .stride_w = layer.stride,
          .pad_h = layer.kernel / 2,
          .pad_w = layer.kernel / 2};
}

void set_flops(benchmark::State& state, const Conv2dGeometry& g) {
  state.counters["FLOP/s"] =
      benchmark::Counter(g.forward_flops(), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

void Forward(benchmark::State& state, Layer layer) {
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

void BackwardInput(benchmark::State& state, Layer layer) {
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
  for (const Layer& layer : kLayers) {
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
