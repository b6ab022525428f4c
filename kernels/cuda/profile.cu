#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/profile.h"

namespace saliency::kernels::cuda {
namespace {

struct Launch {
  std::string op;
  cudaEvent_t start, stop;
};

std::vector<Launch>& launches() {
  static std::vector<Launch> record;
  return record;
}

}  // namespace

bool profiling() {
  static const bool enabled = [] {
    const char* value = std::getenv("SALIENCY_CUDA_PROFILE");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return enabled;
}

ProfiledLaunch::ProfiledLaunch(std::string_view op) {
  if (!profiling()) return;
  Launch launch{std::string(op), nullptr, nullptr};
  check(cudaEventCreate(&launch.start), "profile: cudaEventCreate");
  check(cudaEventCreate(&launch.stop), "profile: cudaEventCreate");
  check(cudaEventRecord(launch.start), "profile: cudaEventRecord");
  record_ = int64_t(launches().size());
  launches().push_back(std::move(launch));
}

ProfiledLaunch::~ProfiledLaunch() {
  if (record_ >= 0) cudaEventRecord(launches()[size_t(record_)].stop);
}

void profile_clear() {
  for (Launch& launch : launches()) {
    cudaEventDestroy(launch.start);
    cudaEventDestroy(launch.stop);
  }
  launches().clear();
}

std::string profile_report(int runs) {
  check(cudaDeviceSynchronize(), "profile report");
  struct Total {
    int64_t count = 0;
    double ms = 0;
  };
  std::map<std::string, Total> totals;
  double all_ms = 0;
  for (const Launch& launch : launches()) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, launch.start, launch.stop), "profile: cudaEventElapsedTime");
    totals[launch.op].count += 1;
    totals[launch.op].ms += ms;
    all_ms += ms;
  }
  profile_clear();
  std::vector<std::pair<std::string, Total>> sorted(totals.begin(), totals.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
  const double per_run = 1.0 / std::max(runs, 1);
  std::string report;
  char line[512];
  std::snprintf(line, sizeof(line), "  kernel time per run %.3f ms in %zu ops\n", all_ms * per_run,
                sorted.size());
  report += line;
  for (const auto& [op, total] : sorted) {
    std::snprintf(line, sizeof(line), "  %9.3f ms %5.1f%% %6.0f x  %s\n", total.ms * per_run,
                  100 * total.ms / std::max(all_ms, 1e-9), double(total.count) * per_run,
                  op.c_str());
    report += line;
  }
  return report;
}

}  // namespace saliency::kernels::cuda
