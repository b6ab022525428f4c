// The packed GEMM alone (kernels/cpu/gemm_packed.h) on ResNet-50's pointwise shapes: the
// micro-kernel's tile overhead, separated from the convolution around it.
//
// gemm_in_cache: one image's product whose operands stay in L2 from call to call (rows x depth by
// depth x columns, B's rows a little apart as a feature map's are); against bench_fma_peak's
// 1-thread line this is the share of the peak the tiles reach when nothing waits on memory.
// gemm_from_memory: batch 8 of the 1x1 layers' shapes (rows x depth over a map) with their fused
// epilogues (none; bias, addend and ReLU as a forward; addend and ReLU mask as a backward), the
// caches flushed before each call (a 64 MB sweep, not timed).
// Both take a thread count: 1 for the kernel's own speed, 2 for how it shares out.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/factory.h"
#include "core/tensor.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/parallel.h"

namespace {

using saliency::kernels::cpu::BatchedColumns;
using saliency::kernels::cpu::GemmArgs;
using saliency::kernels::cpu::RowEpilogue;

// Normal values from the project's generator, one stream per benchmark.
float* normal(std::vector<saliency::Tensor>& keep, saliency::Generator& gen, int64_t count) {
  keep.push_back(saliency::randn({count}, gen));
  return keep.back().data<float>();
}

void set_flops(benchmark::State& state, double flops_per_call) {
  state.counters["FLOP/s"] = benchmark::Counter(
      flops_per_call * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Args: rows, depth, columns, B's row stride, threads.
void gemm_in_cache(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2), ldb = state.range(3);
  saliency::kernels::cpu::set_num_threads(static_cast<int>(state.range(4)));
  const GemmArgs args{.m = m, .n = n, .k = k, .lda = k, .ldb = ldb, .ldc = n};
  if (!saliency::kernels::cpu::packed_gemm_applies(args)) {
    state.SkipWithError("packed GEMM not built (needs AVX-512 or AVX2)");
    return;
  }
  saliency::Generator gen(1);
  std::vector<saliency::Tensor> keep;
  const float *a = normal(keep, gen, m * k), *b = normal(keep, gen, k * ldb);
  std::vector<float> c(static_cast<size_t>(m * n));
  for (auto _ : state) {
    saliency::kernels::cpu::packed_gemm(args, {}, 1.0f, a, b, 0.0f, c.data(), state.range(4) > 1);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(m) * double(n) * double(k));
}

enum Epilogue { none, forward_residual, backward_mask };

// Args: rows, depth, map positions, epilogue, threads.
void gemm_from_memory(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2), batch = 8;
  saliency::kernels::cpu::set_num_threads(static_cast<int>(state.range(4)));
  const GemmArgs args{.m = m, .n = n, .k = k, .lda = k, .ldb = n, .ldc = n};
  if (!saliency::kernels::cpu::packed_gemm_applies(args)) {
    state.SkipWithError("packed GEMM not built (needs AVX-512 or AVX2)");
    return;
  }
  const BatchedColumns columns{.batch = batch, .b_stride = k * n, .c_stride = m * n};
  saliency::Generator gen(1);
  std::vector<saliency::Tensor> keep;
  const float *a = normal(keep, gen, m * k), *b = normal(keep, gen, batch * k * n),
              *bias = normal(keep, gen, m), *addend = normal(keep, gen, batch * m * n),
              *mask = normal(keep, gen, batch * m * n);
  std::vector<float> c(static_cast<size_t>(batch * m * n));
  RowEpilogue<float> epilogue;
  if (state.range(3) == forward_residual) epilogue = {.bias = bias, .relu = true, .addend = addend};
  if (state.range(3) == backward_mask) epilogue = {.relu_mask = mask, .addend = addend};
  std::vector<float> sweep(16 << 20);
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < sweep.size(); i += 16) sweep[i] += 1.0f;
    benchmark::DoNotOptimize(sweep.data());
    state.ResumeTiming();
    saliency::kernels::cpu::packed_gemm(args, columns, 1.0f, a, b, 0.0f, c.data(),
                                        state.range(4) > 1, epilogue);
    benchmark::DoNotOptimize(c.data());
  }
  set_flops(state, 2.0 * double(m) * double(n) * double(k) * double(batch));
}

}  // namespace

// (layer1's 1x1 tiles: 66 rows are 11 whole AVX2 tiles; 64-, 128- and 256-step slices)
BENCHMARK(gemm_in_cache)
    ->ArgNames({"rows", "depth", "columns", "ldb", "threads"})
    ->Args({66, 64, 384, 392, 1})
    ->Args({64, 64, 384, 392, 1})
    ->Args({256, 128, 784, 784, 1})
    ->Args({66, 256, 384, 392, 1})
    ->Args({1024, 256, 196, 196, 1})
    ->Args({1024, 256, 196, 196, 2})
    ->UseRealTime();

BENCHMARK(gemm_from_memory)
    ->ArgNames({"rows", "depth", "positions", "epilogue", "threads"})
    ->Args({64, 64, 3136, none, 1})
    ->Args({256, 64, 3136, forward_residual, 1})
    ->Args({64, 256, 3136, backward_mask, 1})
    ->Args({512, 128, 784, forward_residual, 1})
    ->Args({128, 512, 784, backward_mask, 1})
    ->Args({1024, 256, 196, forward_residual, 1})
    ->Args({256, 1024, 196, backward_mask, 1})
    ->Args({2048, 512, 49, forward_residual, 1})
    ->Args({512, 2048, 49, none, 1})
    ->Args({64, 64, 3136, none, 2})
    ->Args({512, 128, 784, forward_residual, 2})
    ->Args({1024, 256, 196, forward_residual, 2})
    ->UseRealTime();

BENCHMARK_MAIN();
