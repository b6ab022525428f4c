#!/usr/bin/env bash
# Builds the whole test suite with AddressSanitizer + UBSan (LeakSanitizer included) in
# build-asan/ and runs it (all but the two tests named below). Run scripts/setup.sh once first
# for the packages.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSALIENCY_SANITIZE=ON \
  -DSALIENCY_BUILD_BENCHMARKS=OFF -DSALIENCY_CUDA=OFF
cmake --build build-asan --parallel "$(nproc)"
# Two whole-model tests are left to the Release run (ctest in build/): under ASan + UBSan the
# shapes model runs about 50x slower, and together they would take over 20 minutes here.
ctest --test-dir build-asan --output-on-failure -j2 \
  -E '^(ShippedShapesModel[.]GradCamAndIntegratedGradientsBeatTheBaselinesAtPointing|demo[.]page_loads_in_chromium)$'
