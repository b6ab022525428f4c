// Times the CUDA convolution kernels on ResNet-50's convolutions (forward and
// backward-to-input, batch 1 and 50, both column layouts) on random data: milliseconds per call
// (median of 20 after 3 warm-ups, each timed call synchronized) and TFLOP/s. Run by
// scripts/gpu-check.sh on a GPU machine; without a device it says so and exits 0. Not a Google
// Benchmark program, so the GPU build needs no benchmark library.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/runtime.h"
#include "resnet50_conv_layers.h"

namespace {

using saliency::kernels::cpu::Conv2dGeometry;
namespace cuda = saliency::kernels::cuda;

template <typename Fn>
double median_ms(Fn fn) {
  for (int i = 0; i < 3; ++i) fn();
  cuda::synchronize("warm-up");
  std::vector<double> times;
  for (int i = 0; i < 20; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    cuda::synchronize("timed call");
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::nth_element(times.begin(), times.begin() + 10, times.end());
  return times[10];
}

}  // namespace

int main() {
  if (cuda::device_count() == 0) {
    std::printf("%s: no GPU to time\n", cuda::describe_cuda().c_str());
    return 0;
  }
  std::printf("| layer | batch | layout | forward ms | TFLOP/s | backward-input ms | TFLOP/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::mt19937 generator(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto random = [&](int64_t count) {
    std::vector<float> values(static_cast<size_t>(count));
    for (float& v : values) v = uniform(generator);
    return cuda::DeviceArray<float>(values);
  };
  for (const auto& layer : saliency::benchmarks::kResNet50ConvLayers) {
    for (int64_t batch : {1, 50}) {
      const Conv2dGeometry g = saliency::benchmarks::geometry(layer, batch);
      cuda::DeviceArray<float> x = random(batch * g.in_channels * g.in_h * g.in_w),
                               w = random(g.out_channels * g.patch_size()),
                               bias = random(g.out_channels),
                               y = random(batch * g.out_channels * g.out_h() * g.out_w());
      for (const cuda::ConvLayout layout : {cuda::ConvLayout::PerImage, cuda::ConvLayout::Wide}) {
        const double forward = median_ms(
            [&] { cuda::conv2d_forward(g, x.data(), w.data(), bias.data(), y.data(), layout); });
        const double backward = median_ms(
            [&] { cuda::conv2d_backward_input(g, y.data(), w.data(), x.data(), layout); });
        const double tflop = g.forward_flops() / 1e12;
        std::printf("| %s | %lld | %s | %.3f | %.1f | %.3f | %.1f |\n", layer.name,
                    static_cast<long long>(batch),
                    layout == cuda::ConvLayout::Wide ? "wide" : "per image", forward,
                    tflop / (forward / 1e3), backward, tflop / (backward / 1e3));
      }
    }
  }
  return 0;
}
