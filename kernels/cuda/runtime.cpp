#include "kernels/cuda/runtime.h"

#include <string>

namespace saliency::kernels::cuda {

#ifdef SALIENCY_HAS_CUDA
int query_device_count();         // device_query.cu
std::string query_device_name();  // device_query.cu
bool built_with_cuda() {
  return true;
}
int device_count() {
  return query_device_count();
}
std::string device_name() {
  return device_count() > 0 ? query_device_name() : "none";
}
#else
bool built_with_cuda() {
  return false;
}
int device_count() {
  return 0;
}
std::string device_name() {
  return "none";
}
#endif

std::string describe_cuda() {
  if (!built_with_cuda()) return "CUDA: not built";
  const int devices = device_count();
  return "CUDA: built, " + std::to_string(devices) + (devices == 1 ? " device" : " devices") +
         (devices > 0 ? " (" + device_name() + ")" : "");
}

}  // namespace saliency::kernels::cuda
