// The floating-point peak of this machine as our compiler flags reach it: independent chains of
// fused multiply-adds on the widest vectors -march=native allows (AVX-512: 16 floats). Run with
// --benchmark_filter=. ; the threads:2 line is the figure to compare 2-thread kernels with.
#include <benchmark/benchmark.h>

#include <cstddef>

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
using Vector = float __attribute__((vector_size(kLanes * sizeof(float))));

// Enough independent accumulators to cover FMA latency on two pipes (4 cycles x 2 = 8).
constexpr int kChains = 16;
constexpr int kStepsPerIteration = 1 << 16;

// One thread's share: kSteps rounds of kChains independent FMAs.
void fma_chains(int steps) {
  Vector acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vector{} + 1.0f + 0.001f * c;
  const Vector scale = Vector{} + 0.999999f, shift = Vector{} + 1e-7f;
  for (int step = 0; step < steps; ++step)
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * scale + shift;
  for (int c = 0; c < kChains; ++c) benchmark::DoNotOptimize(acc[c]);
}

// Threads are OpenMP threads, as in the kernels; FLOP/s is the total over all of them.
void FmaPeak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    fma_chains(kStepsPerIteration);
  }
  const double flops_per_iteration = 2.0 * kLanes * kChains * kStepsPerIteration * threads;
  state.counters["FLOP/s"] =
      benchmark::Counter(flops_per_iteration, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
  state.SetLabel(std::to_string(kLanes) + " float lanes");
}
BENCHMARK(FmaPeak)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
