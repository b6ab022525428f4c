#!/usr/bin/env bash
# Opens the demo's HTML page in a real headless browser (Debian's chromium) and fails unless
# every image on it loaded; then removes one picture and makes sure the check notices.
# Usage: scripts/check-demo-page.sh [path/to/saliency]. Exits 77 (skipped) without chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-build/saliency}

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "check-demo-page: skipped: no chromium on PATH (apt-get install chromium)"
  exit 77
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$binary" demo --out "$out/demo" --pointing-images 4 --photos "$out/no-photos" >/dev/null \
  2>"$out/demo.err" || { cat "$out/demo.err"; exit 1; }

# The page's script writes data-images-loaded="<loaded>/<total>" on <body> after the load event.
loaded_count() {
  "$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$out/profile" \
    --virtual-time-budget=10000 --dump-dom "file://$out/demo/index.html" 2>/dev/null |
    grep -o 'data-images-loaded="[0-9]*/[0-9]*"' | head -n1
}

images=$(grep -c '<img ' "$out/demo/index.html")
result=$(loaded_count)
if [[ $result != "data-images-loaded=\"$images/$images\"" ]]; then
  echo "check-demo-page: expected all $images images to load, the browser reports: ${result:-nothing}"
  exit 1
fi
echo "check-demo-page: $images of $images images loaded in $($browser --version)"

first=$(grep -o '<img src="[^"]*"' "$out/demo/index.html" | head -n1 | sed 's/.*src="//; s/"$//')
rm "$out/demo/$first"
result=$(loaded_count)
if [[ $result != "data-images-loaded=\"$((images - 1))/$images\"" ]]; then
  echo "check-demo-page: with $first removed the browser should report $((images - 1))/$images, got ${result:-nothing}"
  exit 1
fi
echo "check-demo-page: a missing image is detected ($result)"
