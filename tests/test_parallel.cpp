// The CPU kernels' thread pool: every index of a range is visited exactly once, chunks depend on
// the range and the thread count only, nested regions run serially, set_num_threads affects the
// calling thread only, and regions started from several threads at once (or after the workers
// went to sleep) still complete.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace saliency::kernels::cpu {
namespace {

// Runs a region of `count` items with grain 1 and records which chunk covered each item.
std::vector<int> visits(int64_t count) {
  std::vector<std::atomic<int>> counter(static_cast<size_t>(count));
  parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) counter[size_t(i)].fetch_add(1);
  });
  std::vector<int> result;
  for (const auto& c : counter) result.push_back(c.load());
  return result;
}

TEST(ThreadPool, VisitsEveryIndexOnceOnAnyThreadCount) {
  const int previous = num_threads();
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    EXPECT_EQ(num_threads(), threads);
    for (int64_t count : {1, 2, 7, 1000})
      EXPECT_EQ(visits(count), std::vector<int>(size_t(count), 1));
  }
  set_num_threads(previous);
}

TEST(ThreadPool, ChunksAreFixedByRangeAndThreadCount) {
  const int previous = num_threads();
  set_num_threads(3);
  std::vector<std::pair<int64_t, int64_t>> chunks(3);
  std::atomic<int> index{0};
  parallel_for(10, 110, 1, [&](int64_t lo, int64_t hi) { chunks[size_t(index++)] = {lo, hi}; });
  std::sort(chunks.begin(), chunks.end());
  EXPECT_EQ(chunks, (std::vector<std::pair<int64_t, int64_t>>{{10, 43}, {43, 76}, {76, 110}}));
  set_num_threads(previous);
}

TEST(ThreadPool, TasksRunOnceEachOnAnyThreadCount) {
  const int previous = num_threads();
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (int64_t tasks : {0, 1, 2, 37}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
      parallel_tasks(tasks, [&](int64_t task) { runs[size_t(task)].fetch_add(1); });
      for (const auto& r : runs) EXPECT_EQ(r.load(), 1) << threads << " threads, " << tasks;
    }
  }
  set_num_threads(previous);
}

TEST(ThreadPool, NestedRegionsRunSerially) {
  const int previous = num_threads();
  set_num_threads(2);
  std::atomic<int> inner_chunks{0};
  parallel_for(0, 2, 1, [&](int64_t, int64_t) {
    parallel_for(0, 100, 1, [&](int64_t lo, int64_t hi) {
      EXPECT_EQ(lo, 0);
      EXPECT_EQ(hi, 100);
      ++inner_chunks;
    });
  });
  EXPECT_EQ(inner_chunks.load(), 2);
  set_num_threads(previous);
}

TEST(ThreadPool, ThreadCountIsPerThreadAndRegionsMayComeFromManyThreads) {
  const int previous = num_threads();
  set_num_threads(2);
  std::atomic<int> failures{0};
  std::vector<std::thread> users;
  for (int u = 0; u < 3; ++u)
    users.emplace_back([&, u] {
      if (u == 0) set_num_threads(1);  // this thread only
      for (int round = 0; round < 200; ++round) {
        if (visits(64) != std::vector<int>(64, 1)) ++failures;
        if (round % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
      if (u == 0 && num_threads() != 1) ++failures;
    });
  for (std::thread& user : users) user.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(num_threads(), 2);  // unchanged by the other threads
  set_num_threads(previous);
}

TEST(ThreadPool, RejectsZeroThreads) {
  EXPECT_ANY_THROW(set_num_threads(0));
}

}  // namespace
}  // namespace saliency::kernels::cpu
