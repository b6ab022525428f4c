#!/usr/bin/env bash
# Downloads torchvision's ImageNet weights and converts them for saliency:
#   weights/resnet50.safetensors      ResNet-50 IMAGENET1K_V1 (resnet50-0676ba61.pth, top-1 76.13%)
#   weights/resnet50-v2.safetensors   ResNet-50 IMAGENET1K_V2 (resnet50-11ad3fa6.pth, top-1 80.86%)
#   weights/vit_b_16.safetensors      ViT-B/16 IMAGENET1K_V1 (vit_b_16-c867db91.pth, top-1 81.07%)
#   weights/vgg16.safetensors         VGG-16 IMAGENET1K_V1 (vgg16-397923af.pth, top-1 71.59%)
# Each download is checked against the SHA-256 prefix in its file name (torchvision's
# convention), then converted natively by `saliency convert` (no Python needed).
# Needs the internet; run scripts/setup.sh first. Usage: scripts/get-weights.sh [v1|v2|vit|vgg|all]
set -euo pipefail
cd "$(dirname "$0")/.."

base_url="https://download.pytorch.org/models"
which=${1:-v1}
# checkpoint:converted file:model name (checked by predict after converting)
v1="resnet50-0676ba61.pth:resnet50.safetensors:resnet50"
v2="resnet50-11ad3fa6.pth:resnet50-v2.safetensors:resnet50"
vit="vit_b_16-c867db91.pth:vit_b_16.safetensors:vit_b_16"
vgg="vgg16-397923af.pth:vgg16.safetensors:vgg16"
case "$which" in
  v1) files=("$v1") ;;
  v2) files=("$v2") ;;
  vit) files=("$vit") ;;
  vgg) files=("$vgg") ;;
  all) files=("$v1" "$v2" "$vit" "$vgg") ;;
  *) echo "usage: $0 [v1|v2|vit|vgg|all]" >&2; exit 2 ;;
esac

if [[ ! -x build/saliency ]]; then
  echo "get-weights: build/saliency is missing; run scripts/setup.sh first" >&2
  exit 1
fi
if command -v curl >/dev/null; then
  fetch() { curl --fail --location --silent --show-error --connect-timeout 20 -o "$2" "$1"; }
elif command -v wget >/dev/null; then
  fetch() { wget --quiet --timeout=20 -O "$2" "$1"; }
else
  echo "get-weights: needs curl or wget" >&2
  exit 1
fi

mkdir -p weights/downloads
for pair in "${files[@]}"; do
  IFS=: read -r checkpoint target model <<<"$pair"
  target=weights/$target
  download=weights/downloads/$checkpoint
  if [[ ! -s $download ]]; then
    echo "get-weights: downloading $checkpoint"
    if ! fetch "$base_url/$checkpoint" "$download.partial"; then
      rm -f "$download.partial"
      echo "get-weights: cannot download $base_url/$checkpoint (no internet here?)." >&2
      echo "get-weights: on a machine with internet, fetch that file, then run:" >&2
      echo "  build/saliency convert $checkpoint $target" >&2
      exit 1
    fi
    mv "$download.partial" "$download"
  fi
  expected=${checkpoint##*-} expected=${expected%.pth}
  actual=$(sha256sum "$download" | cut -c1-${#expected})
  if [[ $actual != "$expected" ]]; then
    echo "get-weights: $download: SHA-256 starts with $actual, expected $expected; deleting it" >&2
    rm -f "$download"
    exit 1
  fi
  build/saliency convert "$download" "$target"
  build/saliency predict data/images/dog.jpg --weights "$target" --model "$model" --topk 3
done
