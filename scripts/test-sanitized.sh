#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer + UBSan (LeakSanitizer included) in
# build-asan/ and runs it. Run scripts/setup.sh once first for the packages.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSALIENCY_SANITIZE=ON \
  -DSALIENCY_BUILD_BENCHMARKS=OFF -DSALIENCY_CUDA=OFF
cmake --build build-asan --parallel "$(nproc)"
ctest --test-dir build-asan --output-on-failure -j2
