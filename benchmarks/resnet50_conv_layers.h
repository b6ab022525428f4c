#pragma once
// The distinct convolutions of ResNet-50 at 224x224 (torchvision layout: the stride on the
// 3x3 conv; several appear 3-6 times in the network), shared by the CPU benchmark
// (bench_conv2d) and the CUDA timing (cuda_kernel_timing).
#include <cstdint>

#include "kernels/cpu/conv2d.h"

namespace saliency::benchmarks {

struct ConvLayer {
  const char* name;
  int64_t in_channels, size, out_channels, kernel, stride;
};

inline constexpr ConvLayer kResNet50ConvLayers[] = {
    {"conv1_7x7s2", 3, 224, 64, 7, 2},
    {"layer1_1x1_64to64", 64, 56, 64, 1, 1},
    {"layer1_3x3_64", 64, 56, 64, 3, 1},
    {"layer1_1x1_64to256", 64, 56, 256, 1, 1},
    {"layer1_1x1_256to64", 256, 56, 64, 1, 1},
    {"layer2_3x3s2_128", 128, 56, 128, 3, 2},
    {"layer2_3x3_128", 128, 28, 128, 3, 1},
    {"layer2_1x1_128to512", 128, 28, 512, 1, 1},
    {"layer2_1x1_512to128", 512, 28, 128, 1, 1},
    {"layer2_down_1x1s2_256to512", 256, 56, 512, 1, 2},
    {"layer3_3x3s2_256", 256, 28, 256, 3, 2},
    {"layer3_3x3_256", 256, 14, 256, 3, 1},
    {"layer3_1x1_1024to256", 1024, 14, 256, 1, 1},
    {"layer3_1x1_256to1024", 256, 14, 1024, 1, 1},
    {"layer3_down_1x1s2_512to1024", 512, 28, 1024, 1, 2},
    {"layer4_3x3s2_512", 512, 14, 512, 3, 2},
    {"layer4_3x3_512", 512, 7, 512, 3, 1},
    {"layer4_1x1_512to2048", 512, 7, 2048, 1, 1},
    {"layer4_1x1_2048to512", 2048, 7, 512, 1, 1},
    {"layer4_down_1x1s2_1024to2048", 1024, 14, 2048, 1, 2},
};

// The layer's geometry for a batch (padding kernel / 2, as in ResNet).
inline kernels::cpu::Conv2dGeometry geometry(const ConvLayer& layer, int64_t batch) {
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

}  // namespace saliency::benchmarks
