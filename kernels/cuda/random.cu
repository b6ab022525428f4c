#include "kernels/cuda/check.cuh"
#include "kernels/cuda/random.h"
#include "kernels/philox.h"

namespace saliency::kernels::cuda {

// One thread per Philox block touched: it writes the lanes of its block that fall in the range.
template <typename T>
void fill_normal(uint64_t seed, uint64_t first, int64_t count, double stddev, T* out) {
  if (count <= 0) return;
  const uint64_t first_block = first / 4, last_block = (first + uint64_t(count) - 1) / 4;
  for_each_index("normal noise", int64_t(last_block - first_block + 1), [=] __device__(int64_t b) {
    double quad[4];
    const uint64_t block = first_block + uint64_t(b);
    philox::standard_normal_quad(seed, block, quad);
    for (uint64_t lane = 0; lane < 4; ++lane) {
      const uint64_t element = block * 4 + lane;
      if (element >= first && element < first + uint64_t(count))
        out[element - first] = static_cast<T>(stddev * quad[lane]);
    }
  });
}

template void fill_normal<float>(uint64_t, uint64_t, int64_t, double, float*);
template void fill_normal<double>(uint64_t, uint64_t, int64_t, double, double*);

}  // namespace saliency::kernels::cuda
