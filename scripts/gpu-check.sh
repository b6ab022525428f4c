#!/usr/bin/env bash
# The GPU check, in two halves, because the lent GPU machine has no package registry (no Eigen,
# GoogleTest or stb there) and its device time is short:
#
#   scripts/gpu-check.sh build   here, on the CPU machine: a CUDA build for sm_90 (H100/H200)
#                                with portable x86-64-v3 CPU code, its binaries and CUDA runtime
#                                copied into gpu-check/ (ignored by git, a few MB)
#   scripts/gpu-check.sh run     there, through the device tool with gpu-check/ carried:
#                                the GPU, the build's --version, the CUDA tests (each CUDA kernel
#                                against its CPU specification), a pass/fail table, and the
#                                convolution kernels' times on ResNet-50's layer shapes
#
# e.g. device run: command "bash scripts/gpu-check.sh run", carry ["gpu-check"], timeout 300.
# `saliency bench --device cuda` joins the run half once the ops dispatch to the CUDA kernels
# (issue 7); until then the table lists the kernel tests only.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

case "$mode" in
  build)
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSALIENCY_CUDA=ON \
      -DSALIENCY_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 \
      "-DCMAKE_CUDA_ARCHITECTURES=90-real;90-virtual" -DSALIENCY_BUILD_BENCHMARKS=OFF
    cmake --build build-gpu --target saliency_tests saliency_cli cuda_kernel_timing \
      --parallel "$(nproc)"
    rm -rf gpu-check && mkdir -p gpu-check
    cp build-gpu/tests/saliency_tests build-gpu/saliency build-gpu/cuda_kernel_timing gpu-check/
    # The CUDA runtime the binaries were linked against travels with them.
    cudart=$(ldd build-gpu/saliency | awk '/libcudart/ {print $3}')
    cp -L "$cudart" gpu-check/
    du -sh gpu-check
    ;;
  run)
    [[ -x gpu-check/saliency_tests ]] || { echo "gpu-check/ missing: run '$0 build' first and carry it"; exit 2; }
    export LD_LIBRARY_PATH="$PWD/gpu-check${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    gpu-check/saliency --version
    status=0
    gpu-check/saliency_tests --gtest_filter='Cuda*:*CudaConv*' --gtest_brief=0 \
      | tee gpu-check/tests.log || status=$?
    echo
    echo "| test | result |"
    echo "|---|---|"
    grep -E '^\[ +(OK|FAILED|SKIPPED) +\]' gpu-check/tests.log | grep -v ' tests, ' |
      sed -E 's/^\[ +([A-Z]+) +\] ([^ ]+).*/| \2 | \1 |/' | sort -u
    echo
    gpu-check/cuda_kernel_timing
    exit "$status"
    ;;
  *)
    echo "usage: $0 build|run   (build here, run on the GPU machine; see the comment at the top)"
    exit 2
    ;;
esac
