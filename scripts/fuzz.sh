#!/usr/bin/env bash
# Fuzzes one loader with libFuzzer (clang, ASan + UBSan) for a number of seconds.
#   scripts/fuzz.sh TARGET [SECONDS]     TARGET: image, safetensors, npy, pth, cli (or "all")
# Builds build-fuzz/ (CC=clang), keeps a growing corpus in build-fuzz/corpus/TARGET seeded from
# tests/fuzz/seeds/TARGET, and writes crashing inputs to build-fuzz/crashes/TARGET/. Copy a crash
# into tests/fuzz/regressions/TARGET/ once fixed: the normal test suite replays it forever.
# Needs clang and libclang-rt-14-dev (Debian); installs them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]  (image, safetensors, npy, pth, cli, all)}
seconds=${2:-60}
targets=(image safetensors npy pth cli)
if [[ $target == all ]]; then
  for t in "${targets[@]}"; do "$0" "$t" "$seconds"; done
  exit 0
fi
[[ " ${targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target '$target'"; exit 2; }

missing=()
for package in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# One thread keeps executions reproducible.
export OMP_NUM_THREADS=1
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSALIENCY_FUZZ=ON -DSALIENCY_CUDA=OFF -DSALIENCY_BUILD_TESTS=OFF \
  -DSALIENCY_BUILD_BENCHMARKS=OFF -DSALIENCY_BUILD_SHARED=OFF >/dev/null
cmake --build build-fuzz --target "fuzz_$target" --parallel "$(nproc)"

corpus=build-fuzz/corpus/$target
crashes=build-fuzz/crashes/$target
mkdir -p "$corpus" "$crashes"
# Inputs up to 64 KiB: room for real headers and a few tensors, small enough to stay fast.
build-fuzz/tests/fuzz/fuzz_$target "$corpus" "tests/fuzz/seeds/$target" \
  -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$crashes/" -print_final_stats=1
