#include "kernels/cpu/loss.h"

#include <cmath>

namespace saliency::kernels::cpu {

template <typename T>
T cross_entropy_forward(int64_t rows, int64_t classes, const T* log_probabilities,
                        const int64_t* targets, double label_smoothing, T* probabilities) {
  double total = 0;
  for (int64_t n = 0; n < rows; ++n) {
    const T* log_p = log_probabilities + n * classes;
    double row_sum = 0;
    for (int64_t k = 0; k < classes; ++k) {
      probabilities[n * classes + k] = T(std::exp(double(log_p[k])));
      row_sum += double(log_p[k]);
    }
    total -= (1 - label_smoothing) * double(log_p[targets[n]]) +
             label_smoothing * row_sum / double(classes);
  }
  return T(total / double(rows));
}

template <typename T>
void cross_entropy_backward(int64_t rows, int64_t classes, const T* probabilities,
                            const int64_t* targets, double label_smoothing, T grad_loss,
                            T* grad_logits) {
  const double scale = double(grad_loss) / double(rows);
  const double uniform = label_smoothing / double(classes);
  for (int64_t n = 0; n < rows; ++n)
    for (int64_t k = 0; k < classes; ++k) {
      const double target = (k == targets[n] ? 1 - label_smoothing : 0.0) + uniform;
      grad_logits[n * classes + k] = T(scale * (double(probabilities[n * classes + k]) - target));
    }
}

#define SALIENCY_INSTANTIATE_LOSS(T)                                                             \
  template T cross_entropy_forward<T>(int64_t, int64_t, const T*, const int64_t*, double, T*);   \
  template void cross_entropy_backward<T>(int64_t, int64_t, const T*, const int64_t*, double, T, \
                                          T*);
SALIENCY_INSTANTIATE_LOSS(float)
SALIENCY_INSTANTIATE_LOSS(double)

}  // namespace saliency::kernels::cpu
