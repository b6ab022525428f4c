// The floating-point peak of this machine as our compiler flags reach it (the library's
// measure_fma_peak_gflops: independent FMA chains on the widest vectors -march=native allows),
// on 1 and 2 threads. The threads:2 figure is the ceiling for 2-thread kernels;
// `saliency bench` measures the same way.
#include <benchmark/benchmark.h>

#include "kernels/cpu/peak.h"

namespace {

void FmaPeak(benchmark::State& state) {
  double best = 0;
  for (auto _ : state)
    best = std::max(best, saliency::kernels::cpu::measure_fma_peak_gflops(
                              static_cast<int>(state.range(0)), 0.05));
  state.counters["GFLOP/s"] = best;
}
BENCHMARK(FmaPeak)->Arg(1)->Arg(2)->ArgName("threads")->Iterations(5)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
