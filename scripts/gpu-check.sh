#!/usr/bin/env bash
# The GPU check, in two halves, because the lent GPU machine has no package registry (no Eigen,
# GoogleTest or stb there) and its device time is short:
#
#   scripts/gpu-check.sh build   here, on the CPU machine: a CUDA build for sm_90 (H100/H200)
#                                with portable x86-64-v3 CPU code, its binaries and CUDA runtime
#                                copied into gpu-check/ (ignored by git, a few MB)
#   scripts/gpu-check.sh run     there, through the device tool with gpu-check/ carried:
#                                the GPU, the build's --version, the CUDA tests (each CUDA kernel
#                                against its CPU specification, every method on the GPU against
#                                the CPU), a pass/fail table, the convolution kernels' times on
#                                ResNet-50's layer shapes, `saliency bench --device cuda`, a
#                                short `train --device cuda` beside the CPU's, eval / explain /
#                                predict on both devices, and PyTorch's times for the same work
#                                on the same card
#   scripts/gpu-check.sh profile there too: the CUDA tests, the column layouts per layer and end
#                                to end, IG-50's and SmoothGrad-50's time per op
#                                (SALIENCY_CUDA_PROFILE=1), FP32 and TF32
#
# e.g. device run: command "bash scripts/gpu-check.sh run", carry ["gpu-check"], timeout 400.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

# On the GPU machine: the carried binaries, their CUDA runtime, and a cuBLAS from there (over
# 500 MB with cublasLt, too big to carry: the machine's CUDA toolkit or PyTorch's pip wheel).
use_carried_build() {
  [[ -x gpu-check/saliency_tests ]] || { echo "gpu-check/ missing: run '$0 build' first and carry it"; exit 2; }
  pip_cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
  export LD_LIBRARY_PATH="$PWD/gpu-check:/usr/local/cuda/lib64:/usr/local/cuda/lib${pip_cublas:+:$pip_cublas}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

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
  profile)
    # Where IG-50's and SmoothGrad-50's time goes (SALIENCY_CUDA_PROFILE=1: kernel time per op),
    # and the wide column layout's limit (SALIENCY_CUDA_WIDE_PIXELS) end to end and per layer;
    # full reports under $OUT (or gpu-check/) when run there.
    use_carried_build
    out=${OUT:-gpu-check}
    gpu-check/saliency_tests --gtest_filter='Cuda*:*CudaConv*' --gtest_brief=1 || exit 1
    SALIENCY_TF32=1 gpu-check/cuda_kernel_timing > "$out/conv_layers_tf32.md"
    gpu-check/cuda_kernel_timing > "$out/conv_layers_fp32.md"
    for round in 1 2; do
      for wide in 0 49 196 784; do
        for tf32 in 0 1; do
          echo "== round $round, wide up to $wide pixels, TF32 $tf32"
          SALIENCY_CUDA_WIDE_PIXELS=$wide SALIENCY_TF32=$tf32 gpu-check/saliency bench \
            --device cuda --batch-size 50 --repeat 5 \
            --methods integrated-gradients,smoothgrad,forward | tail -3
        done
      done
    done
    for tf32 in 0 1; do
      for method in integrated-gradients smoothgrad; do
        SALIENCY_CUDA_PROFILE=1 SALIENCY_TF32=$tf32 gpu-check/saliency bench --device cuda \
          --methods $method --batch-size 50 --repeat 2 2>"$out/profile_${method}_tf32_$tf32.txt" \
          >/dev/null
      done
    done
    head -n 14 "$out/profile_integrated-gradients_tf32_1.txt"
    ;;
  run)
    use_carried_build
    ldd gpu-check/saliency | grep -E 'cublas|cudart' || true
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    gpu-check/saliency --version
    status=0
    gpu-check/saliency_tests --gtest_filter='Cuda*:*CudaConv*:DeviceChoice*' --gtest_brief=0 \
      | tee gpu-check/tests.log || status=$?
    echo
    echo "| test | result |"
    echo "|---|---|"
    grep -E '^\[ +(OK|FAILED|SKIPPED) +\]' gpu-check/tests.log | grep -v ' tests, ' |
      sed -E 's/^\[ +([A-Z]+) +\] ([^ ]+).*/| \2 | \1 |/' | sort -u
    echo
    gpu-check/cuda_kernel_timing | tee gpu-check/conv_layers_fp32.md
    echo
    # Issue 7's targets: forward throughput at batch 64, one image's vanilla gradient, IG with
    # 50 steps (and SmoothGrad with 50 samples) in one batch.
    bench=(gpu-check/saliency bench --device cuda)
    "${bench[@]}" --methods forward --batch-size 64 --repeat 5 || status=$?
    "${bench[@]}" --methods forward,vanilla,gradcam,guided-backprop,lrp --repeat 10 || status=$?
    "${bench[@]}" --methods integrated-gradients,smoothgrad --batch-size 50 --repeat 3 ||
      status=$?
    # eval on the embedded shapes model, CPU then GPU: the same table up to float rounding.
    for device in cpu cuda; do
      gpu-check/saliency eval --shapes 8 --device "$device" --out "gpu-check/eval_$device.json" \
        --methods vanilla,gradcam,integrated-gradients,smoothgrad,lrp \
        --metrics deletion,insertion,pointing,sanity || status=$?
    done
    # A short training run on both devices (the same seed: the same losses up to rounding).
    for device in cpu cuda; do
      gpu-check/saliency train shapes --device "$device" --epochs 2 --train-size 1024 \
        --test-size 256 --out "gpu-check/train_$device.safetensors" || status=$?
    done
    # explain --method all and predict through the CLI on both devices (the embedded shapes
    # model): the raw attributions must agree within 1e-4 relative L2.
    shapes=(--weights models/shapes-resnet.safetensors)
    for device in cpu cuda; do
      rm -rf "gpu-check/explain_$device"
      gpu-check/saliency explain tests/data/shapes_ring.png "${shapes[@]}" --method all \
        --device "$device" --out "gpu-check/explain_$device" \
        --save-raw "gpu-check/explain_$device/raw.npy" >/dev/null || status=$?
      gpu-check/saliency predict tests/data/shapes_ring.png "${shapes[@]}" --device "$device" \
        --topk 2 --json || status=$?
    done
    python3 - <<'PY' || status=$?
import glob, os, sys
import numpy as np
worst, files = 0.0, sorted(glob.glob("gpu-check/explain_cpu/raw_*.npy"))
if not files:
    sys.exit("explain wrote no raw attributions to compare")
for cpu in files:
    gpu = cpu.replace("explain_cpu", "explain_cuda")
    a, b = np.load(cpu).astype(np.float64), np.load(gpu).astype(np.float64)
    error = np.linalg.norm(b - a) / max(np.linalg.norm(a), 1e-30)
    worst = max(worst, error)
    print(f"explain {os.path.basename(cpu)[4:-4]}: cuda vs cpu relative L2 {error:.1e}")
sys.exit(0 if worst < 1e-4 else 1)
PY
    # The same with TF32 tensor cores for the GEMMs (PyTorch's table below has both too).
    export SALIENCY_TF32=1
    gpu-check/cuda_kernel_timing | tee gpu-check/conv_layers_tf32.md
    "${bench[@]}" --methods forward --batch-size 64 --repeat 5 || status=$?
    "${bench[@]}" --methods vanilla --repeat 10 || status=$?
    "${bench[@]}" --methods integrated-gradients,smoothgrad --batch-size 50 --repeat 5 ||
      status=$?
    unset SALIENCY_TF32
    echo
    # PyTorch's figures for the same targets on the same card (torch is installed there).
    if python3 -c 'import torch, torchvision' 2>/dev/null; then
      python3 benchmarks/pytorch_cuda_reference.py || status=$?
    else
      echo "PyTorch reference skipped: python3 has no torch/torchvision here"
    fi
    exit "$status"
    ;;
  *)
    echo "usage: $0 build|run|profile   (build here, run on the GPU machine; see the comment at the top)"
    exit 2
    ;;
esac
