#!/usr/bin/env bash
# Builds the unit tests for a CPU without AVX-512 (x86-64-v3: AVX2 and FMA, the code the GPU
# machine's build runs, scripts/gpu-check.sh) in build-portable/ and runs them: there the packed
# GEMM and the implicit convolution run their AVX2 tiles (6 x 16; 4 x 24 for positions as
# rows), Winograd its 8-channel vectors: every test must pass there as on AVX-512. Run
# scripts/setup.sh once first.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-portable -G Ninja -DCMAKE_BUILD_TYPE=Release -DSALIENCY_NATIVE=OFF \
  -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DSALIENCY_CUDA=OFF -DSALIENCY_BUILD_BENCHMARKS=OFF
cmake --build build-portable --target saliency_tests --parallel "$(nproc)"
build-portable/tests/saliency_tests --gtest_brief=1
