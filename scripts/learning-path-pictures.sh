#!/usr/bin/env bash
# Regenerates the pictures in docs/images/learning-path/ (shown in docs/learning-path.md) by
# running the nine examples on their defaults: the embedded shapes model, held-out images.
# Usage: scripts/learning-path-pictures.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build=${1:-build}
out=docs/images/learning-path
mkdir -p "$out"
for example in 01_vanilla_gradient 02_gradient_x_input 03_smoothgrad 04_integrated_gradients \
               05_gradcam 06_guided_backprop 07_guided_gradcam 08_comparison 09_advanced; do
  "$build/$example" --out "$out" > /dev/null
done
ls "$out"
