#pragma once
// Counts the floating-point work of the GEMM-shaped ops (conv2d and linear: 2 x multiply-adds,
// forward and each backward product) while a FlopCounter is alive on this thread. What
// `saliency bench` divides by time to report GFLOP/s; elementwise ops are not counted.
#include <cstdint>

namespace saliency::autograd {

class FlopCounter {
 public:
  FlopCounter();
  ~FlopCounter();
  FlopCounter(const FlopCounter&) = delete;
  FlopCounter& operator=(const FlopCounter&) = delete;
  double flops() const { return flops_; }

  // Called by the ops; a no-op when no counter is active.
  static void add(double flops);

 private:
  double flops_ = 0;
  FlopCounter* outer_;
};

}  // namespace saliency::autograd
