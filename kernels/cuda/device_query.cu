// Compiled only when the build has CUDA (SALIENCY_CUDA=AUTO with nvcc found, or ON).
#include <cuda_runtime.h>

#include <string>

namespace saliency::kernels::cuda {

int query_device_count() {
  int count = 0;
  // No driver or no GPU is not an error here: the answer is simply zero devices.
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

std::string query_device_name() {
  cudaDeviceProp properties{};
  if (cudaGetDeviceProperties(&properties, 0) != cudaSuccess) return "unknown GPU";
  return properties.name;
}

}  // namespace saliency::kernels::cuda
