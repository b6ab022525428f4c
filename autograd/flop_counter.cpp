#include "autograd/flop_counter.h"

namespace saliency::autograd {
namespace {
thread_local FlopCounter* innermost_counter = nullptr;
}

FlopCounter::FlopCounter() : outer_(innermost_counter) {
  innermost_counter = this;
}
FlopCounter::~FlopCounter() {
  innermost_counter = outer_;
}

void FlopCounter::add(double flops) {
  // Nested counters all see the work, so an outer total includes the inner ones.
  for (FlopCounter* counter = innermost_counter; counter != nullptr; counter = counter->outer_)
    counter->flops_ += flops;
}

}  // namespace saliency::autograd
