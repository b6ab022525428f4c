#pragma once
// What the CUDA side of this build can do: whether it was built with nvcc and how many GPUs it
// sees. The kernels (memory.h, elementwise.h, conv2d.h) check device_count() before use.
#include <string>

namespace saliency::kernels::cuda {

bool built_with_cuda();
// Number of visible GPUs; 0 when none (or when the build has no CUDA).
int device_count();
// Device 0's name ("NVIDIA H100 80GB HBM3"), or "none".
std::string device_name();
// One line for --version: "CUDA: not built", "CUDA: built, 0 devices" ...
std::string describe_cuda();

}  // namespace saliency::kernels::cuda
