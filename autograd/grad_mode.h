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

// Ops whose exact backward needs only shapes (add, sub, average pooling) do not keep their
// inputs. Relevance rules need the values (LRP divides by each input's share of the output),
// so while a guard is alive those ops save their operands and output too. Off by default:
// plain gradients keep no extra memory. The guard also keeps convolutions on their direct
// kernels (kernels::cpu::exact_convolutions_required).
class SaveForRulesGuard {
 public:
  SaveForRulesGuard();
  ~SaveForRulesGuard();
  SaveForRulesGuard(const SaveForRulesGuard&) = delete;
  SaveForRulesGuard& operator=(const SaveForRulesGuard&) = delete;
  static bool active();

 private:
  bool previous_;
  bool previous_exact_;
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
