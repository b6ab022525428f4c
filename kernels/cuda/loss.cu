#include "kernels/cuda/check.cuh"
#include "kernels/cuda/loss.h"
#include "kernels/cuda/memory.h"

namespace saliency::kernels::cuda {
namespace {

// One thread adds the rows' terms in row order, as the CPU's loop does.
template <typename T>
__global__ void sum_rows_kernel(int64_t rows, const double* row_terms, T* loss) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double total = 0;
  for (int64_t n = 0; n < rows; ++n) total -= row_terms[n];
  *loss = T(total / double(rows));
}

}  // namespace

template <typename T>
void cross_entropy_forward(int64_t rows, int64_t classes, const T* log_probabilities,
                           const int64_t* targets, double label_smoothing, T* probabilities,
                           T* loss) {
  if (rows <= 0) return;
  DeviceArray<double> row_terms(rows);
  double* terms = row_terms.data();
  for_each_index("cross_entropy", rows, [=] __device__(int64_t n) {
    const T* log_p = log_probabilities + n * classes;
    double row_sum = 0;
    for (int64_t k = 0; k < classes; ++k) {
      probabilities[n * classes + k] = T(exp(double(log_p[k])));
      row_sum += double(log_p[k]);
    }
    terms[n] = (1 - label_smoothing) * double(log_p[targets[n]]) +
               label_smoothing * row_sum / double(classes);
  });
  const ProfiledLaunch timed("cross_entropy sum");
  sum_rows_kernel<<<1, 1>>>(rows, terms, loss);
  check_launch("cross_entropy sum");
}

template <typename T>
void cross_entropy_backward(int64_t rows, int64_t classes, const T* probabilities,
                            const int64_t* targets, double label_smoothing, const T* grad_loss,
                            T* grad_logits) {
  const double uniform = label_smoothing / double(classes);
  for_each_index("cross_entropy backward", rows * classes, [=] __device__(int64_t e) {
    const int64_t n = e / classes, k = e % classes;
    const double scale = double(*grad_loss) / double(rows);
    const double target = (k == targets[n] ? 1 - label_smoothing : 0.0) + uniform;
    grad_logits[e] = T(scale * (double(probabilities[e]) - target));
  });
}

#define SALIENCY_INSTANTIATE_CUDA_LOSS(T)                                                        \
  template void cross_entropy_forward<T>(int64_t, int64_t, const T*, const int64_t*, double, T*, \
                                         T*);                                                    \
  template void cross_entropy_backward<T>(int64_t, int64_t, const T*, const int64_t*, double,    \
                                          const T*, T*);
SALIENCY_INSTANTIATE_CUDA_LOSS(float)
SALIENCY_INSTANTIATE_CUDA_LOSS(double)

}  // namespace saliency::kernels::cuda
