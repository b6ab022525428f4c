#include "kernels/cuda/runtime.h"

#include <string>

namespace saliency::kernels::cuda {

#ifdef SALIENCY_HAS_CUDA
int query_device_count();  // device_query.cu
bool built_with_cuda() {
  return true;
}
int device_count() {
  return query_device_count();
}
#else
bool built_with_cuda() {
  return false;
}
int device_count() {
  return 0;
}
#endif

std::string describe_cuda() {
  if (!built_with_cuda()) return "CUDA: not built";
  const int devices = device_count();
  return "CUDA: built, " + std::to_string(devices) + (devices == 1 ? " device" : " devices");
}

}  // namespace saliency::kernels::cuda
