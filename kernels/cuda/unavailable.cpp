// A build without CUDA: the CUDA kernel API exists so code and tests compile everywhere, and
// every call says why it cannot run. device_count() is 0 here, so callers check it first.
#include "core/error.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/blur.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/indexing.h"
#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/pooling.h"
#include "kernels/cuda/profile.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/resize.h"
#include "kernels/cuda/softmax.h"

namespace saliency::kernels::cuda {
namespace {
[[noreturn]] void unavailable(const char* what) {
  throw Error(concat(what,
                     ": this build has no CUDA (configure with SALIENCY_CUDA=ON where nvcc "
                     "is installed)"));
}
}  // namespace

CudaAllocator& CudaAllocator::instance() {
  static CudaAllocator allocator;
  return allocator;
}
CudaAllocator::~CudaAllocator() = default;
void* CudaAllocator::allocate(size_t) {
  unavailable("CUDA allocation");
}
void CudaAllocator::release(void*, size_t) {}
void CudaAllocator::empty_cache() {}

void copy_to_device(void*, const void*, size_t) {
  unavailable("copy to device");
}
void copy_to_host(void*, const void*, size_t) {
  unavailable("copy to host");
}
void copy_on_device(void*, const void*, size_t) {
  unavailable("copy within device");
}
void synchronize(const char* what) {
  unavailable(what);
}

bool profiling() {
  return false;
}
std::string profile_report(int) {
  return {};
}
void profile_clear() {}

template <typename T>
void relu_forward(int64_t, const T*, T*) {
  unavailable("relu on CUDA");
}
template <typename T>
void relu_backward(int64_t, const T*, const T*, T*) {
  unavailable("relu backward on CUDA");
}
template <typename T>
void relu_backward_guided(int64_t, const T*, const T*, T*) {
  unavailable("guided relu backward on CUDA");
}
template <typename T>
void relu_backward_deconvnet(int64_t, const T*, T*) {
  unavailable("deconvnet relu backward on CUDA");
}
template <typename T>
void scale_shift(int64_t, T, T, const T*, T*) {
  unavailable("scale_shift on CUDA");
}
template <typename T>
void binary_same_shape(cpu::BinaryOp, int64_t, const T*, const T*, T*) {
  unavailable("binary op on CUDA");
}
template <typename T>
void add_channel_bias(int64_t, int64_t, int64_t, const T*, T*) {
  unavailable("conv2d bias on CUDA");
}
template <typename T>
void stabilized_ratio(int64_t, const T*, const T*, T, const T*, int, T*) {
  unavailable("LRP ratio on CUDA");
}
template <typename T>
bool any_negative(int64_t, const T*) {
  unavailable("any_negative on CUDA");
}
template <typename T>
void sum_shares(int64_t, const T*, const T*, const T*, T, T*, T*) {
  unavailable("LRP sum shares on CUDA");
}
template <typename T>
void unary_forward(cpu::UnaryOp, int64_t, const T*, T*) {
  unavailable("unary op on CUDA");
}
template <typename T>
void unary_backward(cpu::UnaryOp, int64_t, const T*, const T*, T*) {
  unavailable("unary op backward on CUDA");
}

bool tf32_enabled() {
  return false;
}

bool conv2d_supported(const cpu::Conv2dGeometry&) {
  return false;
}
template <typename T>
void conv2d_forward(const cpu::Conv2dGeometry&, const T*, const T*, const T*, T*, ConvLayout) {
  unavailable("conv2d on CUDA");
}
template <typename T>
void conv2d_backward_input(const cpu::Conv2dGeometry&, const T*, const T*, T*, ConvLayout) {
  unavailable("conv2d backward on CUDA");
}

template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry&, const T*, const T*, const T*, const T*,
                        const T*, T*) {
  unavailable("batch_norm2d on CUDA");
}
template <typename T>
void batch_norm_backward_input_frozen(const cpu::BatchNormGeometry&, const T*, const T*, const T*,
                                      T*) {
  unavailable("batch_norm2d backward on CUDA");
}
template <typename T>
void max_pool2d_forward(const cpu::PoolGeometry&, const T*, T*, int32_t*) {
  unavailable("max_pool2d on CUDA");
}
template <typename T>
void max_pool2d_backward(const cpu::PoolGeometry&, const T*, const int32_t*, T*) {
  unavailable("max_pool2d backward on CUDA");
}
template <typename T>
void batch_norm_statistics(const cpu::BatchNormGeometry&, const T*, T*, T*) {
  unavailable("batch_norm2d statistics on CUDA");
}
template <typename T>
void batch_norm_backward_input_batch_stats(const cpu::BatchNormGeometry&, const T*, const T*,
                                           const T*, const T*, const T*, T*) {
  unavailable("batch_norm2d backward on CUDA");
}
template <typename T>
void batch_norm_backward_params(const cpu::BatchNormGeometry&, const T*, const T*, const T*,
                                const T*, T*, T*) {
  unavailable("batch_norm2d parameter gradients on CUDA");
}
template <typename T>
void avg_pool2d_forward(const cpu::PoolGeometry&, bool, const T*, T*) {
  unavailable("avg_pool2d on CUDA");
}
template <typename T>
void avg_pool2d_backward(const cpu::PoolGeometry&, bool, const T*, T*) {
  unavailable("avg_pool2d backward on CUDA");
}
template <typename T>
void cross_entropy_forward(int64_t, int64_t, const T*, const int64_t*, double, T*, T*) {
  unavailable("cross_entropy on CUDA");
}
template <typename T>
void cross_entropy_backward(int64_t, int64_t, const T*, const int64_t*, double, const T*, T*) {
  unavailable("cross_entropy backward on CUDA");
}
template <typename T>
void adaptive_avg_pool2d_forward(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*) {
  unavailable("adaptive_avg_pool2d on CUDA");
}
template <typename T>
void adaptive_avg_pool2d_backward(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*) {
  unavailable("adaptive_avg_pool2d backward on CUDA");
}

template <typename T>
void linear_forward(const cpu::LinearGeometry&, const T*, const T*, const T*, T*) {
  unavailable("linear on CUDA");
}
template <typename T>
void linear_backward_input(const cpu::LinearGeometry&, const T*, const T*, T*) {
  unavailable("linear backward on CUDA");
}

template <typename T>
void fill_normal(uint64_t, uint64_t, int64_t, double, T*) {
  unavailable("normal noise on CUDA");
}

template <typename T>
void scaled_copies(int64_t, const T*, const T*, const T*, int64_t, T*) {
  unavailable("scaled copies on CUDA");
}
template <typename T>
void accumulate_weighted_rows(int64_t, const T*, const T*, int64_t, T*) {
  unavailable("accumulate weighted rows on CUDA");
}

template <typename T>
void strided_copy(const std::vector<int64_t>&, const std::vector<int64_t>&, const T*,
                  const std::vector<int64_t>&, T*) {
  unavailable("strided copy on CUDA");
}
template <typename T>
void binary_broadcast(cpu::BinaryOp, const cpu::BroadcastLayout&, const T*, const T*, T*) {
  unavailable("broadcasting on CUDA");
}
template <typename T>
void sum_to(const std::vector<int64_t>&, const std::vector<int64_t>&, int64_t, const T*, T*) {
  unavailable("sum_to on CUDA");
}
template <typename T>
void fill_zero(int64_t, T*) {
  unavailable("fill on CUDA");
}
template <typename T>
void layer_norm_forward(const cpu::LayerNormGeometry&, const T*, const T*, const T*, double, T*, T*,
                        T*) {
  unavailable("layer_norm on CUDA");
}
template <typename T>
void layer_norm_backward(const cpu::LayerNormGeometry&, const T*, const T*, const T*, const T*,
                         const T*, T*, T*, T*) {
  unavailable("layer_norm backward on CUDA");
}
template <typename T>
void softmax_forward(const cpu::SoftmaxGeometry&, bool, const T*, T*) {
  unavailable("softmax on CUDA");
}
template <typename T>
void softmax_backward(const cpu::SoftmaxGeometry&, bool, const T*, const T*, T*) {
  unavailable("softmax backward on CUDA");
}

template <typename T>
void conv2d_backward_weight(const cpu::Conv2dGeometry&, const T*, const T*, T*) {
  unavailable("conv2d weight gradient on CUDA");
}
template <typename T>
void conv2d_backward_bias(const cpu::Conv2dGeometry&, const T*, T*) {
  unavailable("conv2d bias gradient on CUDA");
}
template <typename T>
void linear_backward_weight(const cpu::LinearGeometry&, const T*, const T*, T*) {
  unavailable("linear weight gradient on CUDA");
}
template <typename T>
void linear_backward_bias(const cpu::LinearGeometry&, const T*, T*) {
  unavailable("linear bias gradient on CUDA");
}

template <typename T>
void gemm_batched(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, int64_t, const T*,
                  int64_t, int64_t, T*, int64_t, int64_t, int64_t) {
  unavailable("GEMM on CUDA");
}

template <typename T>
void resize_bilinear_forward(const cpu::ResizeGeometry&, const T*, T*) {
  unavailable("resize_bilinear on CUDA");
}
template <typename T>
void resize_bilinear_backward(const cpu::ResizeGeometry&, const T*, T*) {
  unavailable("resize_bilinear backward on CUDA");
}
template <typename T>
void resize_nearest_forward(const cpu::ResizeGeometry&, const T*, T*) {
  unavailable("resize_nearest on CUDA");
}
template <typename T>
void resize_nearest_backward(const cpu::ResizeGeometry&, const T*, T*) {
  unavailable("resize_nearest backward on CUDA");
}

template <typename T>
void separable_blur_forward(const cpu::BlurGeometry&, const T*, const T*, T*) {
  unavailable("gaussian_blur on CUDA");
}
template <typename T>
void separable_blur_backward(const cpu::BlurGeometry&, const T*, const T*, T*) {
  unavailable("gaussian_blur backward on CUDA");
}

#define SALIENCY_INSTANTIATE_UNAVAILABLE(T)                                                        \
  template void strided_copy<T>(const std::vector<int64_t>&, const std::vector<int64_t>&,          \
                                const T*, const std::vector<int64_t>&, T*);                        \
  template void binary_broadcast<T>(cpu::BinaryOp, const cpu::BroadcastLayout&, const T*,          \
                                    const T*, T*);                                                 \
  template void sum_to<T>(const std::vector<int64_t>&, const std::vector<int64_t>&, int64_t,       \
                          const T*, T*);                                                           \
  template void fill_zero<T>(int64_t, T*);                                                         \
  template void layer_norm_forward<T>(const cpu::LayerNormGeometry&, const T*, const T*, const T*, \
                                      double, T*, T*, T*);                                         \
  template void layer_norm_backward<T>(const cpu::LayerNormGeometry&, const T*, const T*,          \
                                       const T*, const T*, const T*, T*, T*, T*);                  \
  template void softmax_forward<T>(const cpu::SoftmaxGeometry&, bool, const T*, T*);               \
  template void softmax_backward<T>(const cpu::SoftmaxGeometry&, bool, const T*, const T*, T*);    \
  template void conv2d_backward_weight<T>(const cpu::Conv2dGeometry&, const T*, const T*, T*);     \
  template void conv2d_backward_bias<T>(const cpu::Conv2dGeometry&, const T*, T*);                 \
  template void linear_backward_weight<T>(const cpu::LinearGeometry&, const T*, const T*, T*);     \
  template void linear_backward_bias<T>(const cpu::LinearGeometry&, const T*, T*);                 \
  template void gemm_batched<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, int64_t, \
                                const T*, int64_t, int64_t, T*, int64_t, int64_t, int64_t);        \
  template void resize_bilinear_forward<T>(const cpu::ResizeGeometry&, const T*, T*);              \
  template void resize_bilinear_backward<T>(const cpu::ResizeGeometry&, const T*, T*);             \
  template void resize_nearest_forward<T>(const cpu::ResizeGeometry&, const T*, T*);               \
  template void resize_nearest_backward<T>(const cpu::ResizeGeometry&, const T*, T*);              \
  template void separable_blur_forward<T>(const cpu::BlurGeometry&, const T*, const T*, T*);       \
  template void separable_blur_backward<T>(const cpu::BlurGeometry&, const T*, const T*, T*);      \
  template void fill_normal<T>(uint64_t, uint64_t, int64_t, double, T*);                           \
  template void relu_forward<T>(int64_t, const T*, T*);                                            \
  template void relu_backward<T>(int64_t, const T*, const T*, T*);                                 \
  template void relu_backward_guided<T>(int64_t, const T*, const T*, T*);                          \
  template void relu_backward_deconvnet<T>(int64_t, const T*, T*);                                 \
  template void scale_shift<T>(int64_t, T, T, const T*, T*);                                       \
  template void scaled_copies<T>(int64_t, const T*, const T*, const T*, int64_t, T*);              \
  template void accumulate_weighted_rows<T>(int64_t, const T*, const T*, int64_t, T*);             \
  template void binary_same_shape<T>(cpu::BinaryOp, int64_t, const T*, const T*, T*);              \
  template void add_channel_bias<T>(int64_t, int64_t, int64_t, const T*, T*);                      \
  template void unary_forward<T>(cpu::UnaryOp, int64_t, const T*, T*);                             \
  template void stabilized_ratio<T>(int64_t, const T*, const T*, T, const T*, int, T*);            \
  template bool any_negative<T>(int64_t, const T*);                                                \
  template void unary_backward<T>(cpu::UnaryOp, int64_t, const T*, const T*, T*);                  \
  template void conv2d_forward<T>(const cpu::Conv2dGeometry&, const T*, const T*, const T*, T*,    \
                                  ConvLayout);                                                     \
  template void conv2d_backward_input<T>(const cpu::Conv2dGeometry&, const T*, const T*, T*,       \
                                         ConvLayout);                                              \
  template void batch_norm_forward<T>(const cpu::BatchNormGeometry&, const T*, const T*, const T*, \
                                      const T*, const T*, T*);                                     \
  template void batch_norm_backward_input_frozen<T>(const cpu::BatchNormGeometry&, const T*,       \
                                                    const T*, const T*, T*);                       \
  template void linear_forward<T>(const cpu::LinearGeometry&, const T*, const T*, const T*, T*);   \
  template void linear_backward_input<T>(const cpu::LinearGeometry&, const T*, const T*, T*);      \
  template void max_pool2d_forward<T>(const cpu::PoolGeometry&, const T*, T*, int32_t*);           \
  template void max_pool2d_backward<T>(const cpu::PoolGeometry&, const T*, const int32_t*, T*);    \
  template void adaptive_avg_pool2d_forward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,        \
                                               const T*, T*);                                      \
  template void adaptive_avg_pool2d_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t,       \
                                                const T*, T*);                                     \
  template void sum_shares<T>(int64_t, const T*, const T*, const T*, T, T*, T*);                   \
  template void batch_norm_statistics<T>(const cpu::BatchNormGeometry&, const T*, T*, T*);         \
  template void batch_norm_backward_input_batch_stats<T>(                                          \
      const cpu::BatchNormGeometry&, const T*, const T*, const T*, const T*, const T*, T*);        \
  template void batch_norm_backward_params<T>(const cpu::BatchNormGeometry&, const T*, const T*,   \
                                              const T*, const T*, T*, T*);                         \
  template void avg_pool2d_forward<T>(const cpu::PoolGeometry&, bool, const T*, T*);               \
  template void avg_pool2d_backward<T>(const cpu::PoolGeometry&, bool, const T*, T*);              \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int64_t*, double, T*,   \
                                         T*);                                                      \
  template void cross_entropy_backward<T>(int64_t, int64_t, const T*, const int64_t*, double,      \
                                          const T*, T*);
SALIENCY_INSTANTIATE_UNAVAILABLE(float)
SALIENCY_INSTANTIATE_UNAVAILABLE(double)

}  // namespace saliency::kernels::cuda
