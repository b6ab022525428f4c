// One libFuzzer program per target: SALIENCY_FUZZ_TARGET names the function (scripts/fuzz.sh).
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  saliency::fuzz::SALIENCY_FUZZ_TARGET(data, size);
  return 0;
}
