// Times the CUDA convolution kernels on ResNet-50's layer shapes (forward and
// backward-to-input, batch 1 and 64): milliseconds per call (median of 20 after 3 warm-ups,
// each timed call synchronized) and TFLOP/s. Run by scripts/gpu-check.sh on a GPU machine;
// without a device it says so and exits 0. Not a Google Benchmark program, so the GPU build
// needs no benchmark library.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/runtime.h"

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
  struct Layer {
    const char* name;
    int64_t channels_in, channels_out, size, kernel, stride = 1;
  };
  const Layer layers[] = {
      {"stem 7x7/2", 3, 64, 224, 7, 2},     {"layer1 3x3", 64, 64, 56, 3},
      {"layer2 3x3/2", 128, 128, 56, 3, 2}, {"layer2 3x3", 128, 128, 28, 3},
      {"layer3 3x3", 256, 256, 14, 3},      {"layer4 3x3", 512, 512, 7, 3},
      {"layer1 1x1 in", 256, 64, 56, 1},    {"layer3 1x1 out", 256, 1024, 14, 1}};
  std::printf("| layer | batch | forward ms | TFLOP/s | backward-input ms | TFLOP/s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Layer& layer : layers) {
    for (int64_t batch : {1, 64}) {
      Conv2dGeometry g{.batch = batch,
                       .in_channels = layer.channels_in,
                       .in_h = layer.size,
                       .in_w = layer.size,
                       .out_channels = layer.channels_out,
                       .kernel_h = layer.kernel,
                       .kernel_w = layer.kernel,
                       .stride_h = layer.stride,
                       .stride_w = layer.stride,
                       .pad_h = layer.kernel / 2,
                       .pad_w = layer.kernel / 2};
      cuda::DeviceArray<float> x(batch * g.in_channels * g.in_h * g.in_w),
          w(g.out_channels * g.patch_size()), y(batch * g.out_channels * g.out_h() * g.out_w());
      const double forward =
          median_ms([&] { cuda::conv2d_forward(g, x.data(), w.data(), y.data()); });
      const double backward =
          median_ms([&] { cuda::conv2d_backward_input(g, y.data(), w.data(), x.data()); });
      const double tflop = g.forward_flops() / 1e12;
      std::printf("| %s | %lld | %.3f | %.1f | %.3f | %.1f |\n", layer.name,
                  static_cast<long long>(batch), forward, tflop / (forward / 1e3), backward,
                  tflop / (backward / 1e3));
    }
  }
  return 0;
}
