#!/usr/bin/env bash
# README's "Embedding sqllm in an engine" example, run on a real checkpoint.
#   test_engine_sample.sh ENGINE_SAMPLE SQLLM_QUANTIZE SQLLM_CONVERT|- STORIES_DIR
# Quantizes stories260K (reference layout, as sqllm-quantize writes it), converts
# it to the striped layout when sqllm-convert is built, runs the example on each:
# every layer must load (zero-copy exactly for the striped file) and both files
# must give the same outputs. A missing file and no argument must fail cleanly.
set -u
sample=$1 quantize=$2 convert=$3 data=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$quantize" "$data/stories260K.bin" -o "$tmp/ref.safetensors" --sensitivity "$data/fisher.safetensors" \
  --bits 3 --sparsity 0.45% -q || fail "sqllm-quantize"
"$sample" "$tmp/ref.safetensors" >"$tmp/ref.txt" 2>&1 || { cat "$tmp/ref.txt"; fail "the example failed"; }
cat "$tmp/ref.txt"
layers=$(wc -l <"$tmp/ref.txt")
[ "$layers" -ge 35 ] || fail "expected every quantized layer of stories260K, got $layers lines"
grep -q "zero-copy" "$tmp/ref.txt" && fail "a reference-layout layer reported zero-copy"
grep -q "3-bit f32 LUT csr" "$tmp/ref.txt" || fail "no 3-bit layer with a CSR part"

if [ "$convert" != "-" ]; then
  "$convert" "$tmp/ref.safetensors" -o "$tmp/striped.safetensors" --layout striped -q || fail "sqllm-convert"
  "$sample" "$tmp/striped.safetensors" >"$tmp/striped.txt" 2>&1 || { cat "$tmp/striped.txt"; fail "striped"; }
  [ "$(grep -c zero-copy "$tmp/striped.txt")" -eq "$layers" ] || fail "striped layers not all zero-copy"
  # The same layers, the same outputs: only the load path differs.
  diff <(sed 's/repacked  on/X on/' "$tmp/ref.txt") <(sed 's/zero-copy on/X on/' "$tmp/striped.txt") ||
    fail "the striped file computes other outputs than the reference file"
fi

"$sample" "$tmp/missing.safetensors" >"$tmp/err.txt" 2>&1 && fail "a missing file succeeded"
grep -q "^error: " "$tmp/err.txt" || fail "no error message for a missing file"
"$sample" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no argument: expected exit status 2"
echo "engine sample: ok ($layers layers)"
