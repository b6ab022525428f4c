#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds examples/consumer against it twice, as
# other projects would: with find_package(saliency CONFIG) and with pkg-config; runs both.
# Usage: check_install.sh BUILD_DIR SOURCE_DIR WORK_DIR
set -euo pipefail
build=$1 source=$2 work=$3
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test ! -e "$work/prefix/include/saliency/kernels/cpu/gemm.cpp"  # headers only
if grep -rqE "#include <(Eigen|cuda)|Eigen::" "$work/prefix/include/saliency"; then
  echo "public headers expose Eigen or CUDA types"
  exit 1
fi
cmake -S "$source/examples/consumer" -B "$work/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer" "$source/tests/fixtures/tiny_resnet50.pth" "$source/data/images/cat.png" \
  "$work/cmake.png"
flags=$(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs saliency)
# shellcheck disable=SC2086
c++ "$source/examples/consumer/main.cpp" $flags -Wl,-rpath,"$work/prefix/lib" -o "$work/pc_consumer"
"$work/pc_consumer" "$source/tests/fixtures/tiny_resnet18.safetensors" \
  "$source/data/images/dog.jpg" "$work/pkg-config.png"
test -s "$work/cmake.png" && test -s "$work/pkg-config.png"
echo "installed package works through CMake and pkg-config"
