#pragma once
// Whether ops record the graph. Recording is on by default; a NoGradGuard turns it off for
// the current thread until the guard goes out of scope (inference, and the backward pass
// itself, which never records).

namespace saliency::autograd {

class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool enabled);
};

class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace saliency::autograd
