#include "kernels/cpu/random.h"

#include "kernels/cpu/parallel.h"
#include "kernels/philox.h"

namespace saliency::kernels::cpu {

template <typename T>
void fill_normal(uint64_t seed, uint64_t first, int64_t count, double stddev, T* out) {
  // Element i is lane (first + i) % 4 of block (first + i) / 4; a chunk of elements draws the
  // blocks it touches, the first and last possibly in part.
  parallel_for(0, count, 16384, [&](int64_t lo, int64_t hi) {
    double quad[4];
    for (int64_t i = lo; i < hi;) {
      const uint64_t element = first + uint64_t(i);
      philox::standard_normal_quad(seed, element / 4, quad);
      for (uint64_t lane = element % 4; lane < 4 && i < hi; ++lane, ++i)
        out[i] = static_cast<T>(stddev * quad[lane]);
    }
  });
}

template void fill_normal<float>(uint64_t, uint64_t, int64_t, double, float*);
template void fill_normal<double>(uint64_t, uint64_t, int64_t, double, double*);

}  // namespace saliency::kernels::cpu
