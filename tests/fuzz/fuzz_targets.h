#pragma once
// The fuzzed entry points, shared by the libFuzzer programs (tests/fuzz/fuzz_main.cpp, built by
// scripts/fuzz.sh with clang) and the regression test that replays every input that ever
// crashed one of them (tests/fuzz/test_fuzz_regressions.cpp, part of the normal suite).
//
// Each target feeds arbitrary bytes to a loader. The contract: it returns normally or throws
// saliency::Error (bad input, with a message); anything else (a crash, a sanitizer report, an
// uncaught std::exception such as bad_alloc from a huge allocation) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace saliency::fuzz {

void image(const uint8_t* data, size_t size);        // decode + preprocess
void safetensors(const uint8_t* data, size_t size);  // header + tensors, from memory
void npy(const uint8_t* data, size_t size);          // through a temporary file
void pth(const uint8_t* data, size_t size);          // zip or legacy pickle, temporary file
void cli(const uint8_t* data, size_t size);          // argument parsing only (nothing runs)

struct Target {
  std::string name;
  void (*run)(const uint8_t*, size_t);
};
const std::vector<Target>& targets();

}  // namespace saliency::fuzz
