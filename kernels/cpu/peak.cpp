#include "kernels/cpu/peak.h"

#include <chrono>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
using Vector = float __attribute__((vector_size(kLanes * sizeof(float))));
// Independent chains: enough to cover FMA latency x throughput on current cores (8-10), and with
// the two constants no more than the vector registers. 16 chains of 8 lanes spilled with AVX2's
// 16 registers: a Zen 3 measured 59 GFLOP/s per core that way, 104 with 12 chains.
constexpr int kChains = kLanes == 16 ? 16 : 12;
constexpr int kSteps = 1 << 14;

// kSteps rounds of kChains independent FMAs; the result is returned so it is not optimized out.
float fma_chains() {
  Vector acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vector{} + 1.0f + 0.001f * float(c);
  const Vector scale = Vector{} + 0.999999f, shift = Vector{} + 1e-7f;
  for (int step = 0; step < kSteps; ++step)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * scale + shift;
  float sum = 0;
  for (int c = 0; c < kChains; ++c) sum += acc[c][0];
  return sum;
}

}  // namespace

double measure_fma_peak_gflops(int threads, double seconds) {
  const int previous = num_threads();
  set_num_threads(threads);  // one chain set per thread
  const double flops_per_round = 2.0 * kLanes * kChains * kSteps * threads;
  volatile float sink = 0;
  double best = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<float> partial(static_cast<size_t>(threads));
    parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) partial[size_t(t)] = fma_chains();
    });
    for (float p : partial) sink = sink + p;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, flops_per_round / elapsed / 1e9);  // the best round: least disturbed
  }
  set_num_threads(previous);
  return best;
}

}  // namespace saliency::kernels::cpu
