#pragma once
// Where a GPU pass spends its time, kernel by kernel: with SALIENCY_CUDA_PROFILE=1 every launch
// of ours and every cuBLAS product is bracketed by CUDA events under its op name (GEMMs under
// their shape), and profile_report() sums them. Events cost a little per launch, so this is for
// finding the slow op, not for the timings we report. Off (and free) by default.
#include <string>

namespace saliency::kernels::cuda {

// SALIENCY_CUDA_PROFILE=1, read once.
bool profiling();
// Waits for the device, then one line per op: launches, total ms, share of the kernel time,
// sorted by total; `runs` divides the totals (per-run figures). Clears the record.
std::string profile_report(int runs);
// Drops what was recorded so far (e.g. a warm-up run).
void profile_clear();

}  // namespace saliency::kernels::cuda
