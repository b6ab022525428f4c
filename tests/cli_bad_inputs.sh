#!/usr/bin/env bash
# Every bad input reaches the user as one line on stderr naming the file, and exit code 2:
# the broken images of tests/data/bad, and weights files cut short or corrupted.
# Usage: cli_bad_inputs.sh SALIENCY_BINARY SOURCE_DIR WORK_DIR
set -u
saliency=$1 source=$2 work=$3
mkdir -p "$work"
weights=$source/tests/fixtures/tiny_resnet18.safetensors
failures=0

expect_refusal() {  # FILE-THE-MESSAGE-MUST-NAME COMMAND...
  local named=$1
  shift
  local stderr
  stderr=$("$@" 2>&1 >/dev/null)
  local code=$?
  local lines
  lines=$(printf '%s\n' "$stderr" | grep -c .)
  if [[ $code -ne 2 || $lines -ne 1 || $stderr != *"$named"* ]]; then
    echo "FAIL: $* -> exit $code, stderr: $stderr"
    failures=$((failures + 1))
  else
    echo "ok: $stderr"
  fi
}

for image in "$source"/tests/data/bad/*.{png,jpg}; do
  expect_refusal "$image" "$saliency" predict "$image" --weights "$weights"
done

head -c 1000 "$weights" >"$work/cut.safetensors"
expect_refusal "$work/cut.safetensors" "$saliency" predict "$source/data/images/cat.png" --weights "$work/cut.safetensors"
head -c 5000 "$source/tests/fixtures/tiny_resnet50.pth" >"$work/cut.pth"
expect_refusal "$work/cut.pth" "$saliency" predict "$source/data/images/cat.png" --weights "$work/cut.pth"
expect_refusal "$work/cut.pth" "$saliency" convert "$work/cut.pth" "$work/out.safetensors"
printf 'not a tensor' >"$work/bad.npy"
expect_refusal "$work/bad.npy" "$saliency" predict "$work/bad.npy" --weights "$weights"
expect_refusal "$source/tests/fixtures/tiny_resnet18_logits.npy" "$saliency" predict \
  "$source/tests/fixtures/tiny_resnet18_logits.npy" --weights "$weights"  # float64 [2, 10]
expect_refusal "missing.png" "$saliency" predict missing.png --weights "$weights"
expect_refusal "$source/tests/data/bad/truncated.jpg" "$saliency" explain \
  "$source/tests/data/bad/truncated.jpg" --weights "$weights" --out "$work/explain"
expect_refusal "bad.npy" "$saliency" explain "$source/data/images/cat.png" --weights "$weights" \
  --method integrated-gradients --baseline "$work/bad.npy" --out "$work/explain"

if [[ -e $work/out.safetensors ]]; then
  echo "FAIL: a failed convert left an output file"
  failures=$((failures + 1))
fi
echo "$failures failures"
exit $((failures > 0))
