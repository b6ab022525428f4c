#pragma once
// A seeded random generator whose streams are the same on every platform: mt19937_64 is fully
// specified by the standard, and the uniform and normal transforms are ours (the standard
// library's distributions differ between implementations).
#include <cstdint>
#include <random>

namespace saliency {

class Generator {
 public:
  explicit Generator(uint64_t seed) : engine_(seed) {}
  double uniform();  // [0, 1) with 53 random bits
  double normal();   // standard normal, Box-Muller
  uint64_t next_u64() { return engine_(); }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace saliency
