#pragma once
// What the CUDA side of this build can do. The CUDA kernels themselves arrive with the CUDA
// backend; for now the build compiles and links a device query so the toolchain is exercised.
#include <string>

namespace saliency::kernels::cuda {

bool built_with_cuda();
// Number of visible GPUs; 0 when none (or when the build has no CUDA).
int device_count();
// One line for --version: "CUDA: not built", "CUDA: built, 0 devices" ...
std::string describe_cuda();

}  // namespace saliency::kernels::cuda
