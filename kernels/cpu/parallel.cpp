#include "kernels/cpu/parallel.h"

#include "core/error.h"

namespace saliency::kernels::cpu {

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int threads) {
  SALIENCY_CHECK(threads >= 1, "set_num_threads: need at least one thread, got ", threads);
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
}

}  // namespace saliency::kernels::cpu
