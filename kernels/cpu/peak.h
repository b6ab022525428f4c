#pragma once
// The machine's floating-point ceiling as this build reaches it: independent FMA chains on the
// widest vectors the compiler targets, on `threads` threads of the kernels' pool, for about
// `seconds`.
namespace saliency::kernels::cpu {

double measure_fma_peak_gflops(int threads, double seconds = 0.3);

}  // namespace saliency::kernels::cpu
