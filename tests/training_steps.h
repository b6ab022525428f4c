#pragma once
// Two SGD steps of the tiny ResNet-18 layout in training mode against PyTorch's fixtures
// (tests/reference/make_training_fixtures.py), with the model and images on `device`: the CPU's
// test (test_training.cpp) and the GPU's (test_cuda_methods.cpp) run the same check.
#include "core/device.h"

namespace saliency::testing {

// Losses to 1e-5 relative, every parameter and running statistic after the steps to 2e-5, and
// each of them changed by the steps; all on `device`.
void expect_two_sgd_steps_match_pytorch(Device device);

}  // namespace saliency::testing
