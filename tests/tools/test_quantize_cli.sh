#!/usr/bin/env bash
# sqllm-quantize end to end: a good run on the real model and on synthetic
# safetensors, then every kind of bad input: a clear message, a non-zero
# exit, and no output file (nor temporaries) left behind.
#
#   test_quantize_cli.sh SQLLM_QUANTIZE MAKE_SAFETENSORS DATA_DIR [--memory]
# --memory adds the bounded-memory check (skipped under sanitizers, whose
# shadow memory inflates the resident size).
set -uo pipefail
quantize=$1 make=$2 data=$3 memory=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_error NAME "message fragment" ARGS... : non-zero exit, the message, no output.
expect_error() {
  local name=$1 fragment=$2
  shift 2
  local out=$work/out.safetensors
  rm -f "$out"
  if "$quantize" "$@" >"$work/stdout" 2>"$work/stderr"; then
    fail "$name: exit status 0"
  fi
  grep -qF -- "$fragment" "$work/stderr" "$work/stdout" || { fail "$name: no \"$fragment\" in:"; cat "$work/stderr" >&2; }
  [ ! -e "$out" ] || fail "$name: an output file was written"
  [ -z "$(ls "$work" | grep -E '\.(spool|partial)$')" ] || fail "$name: temporary files left behind"
}

model=$data/stories260K.bin
fisher=$data/fisher.safetensors
out=$work/out.safetensors

# --- good runs -----------------------------------------------------------------
"$quantize" "$model" -o "$out" --sensitivity "$fisher" --bits 3 --sparsity 0.45% --report "$work/r.json" -q \
  || fail "stories260K 3-bit 0.45% run failed"
[ -s "$out" ] || fail "no output from the good run"
grep -q '"bits_per_weight"' "$work/r.json" || fail "no report JSON"
"$quantize" "$model" -o "$out" --bits 4 --method rtn --lut f16 >"$work/stdout" 2>"$work/stderr" \
  || fail "rtn run failed"
grep -q '^total ' "$work/stdout" || fail "no summary table"
grep -q 'layers.4.w3' "$work/stderr" || fail "no per-tensor log lines when stderr is not a terminal"

"$make" "$work/syn.safetensors" a.weight:F16:96x200 b.weight:BF16:33x64 c.norm:F32:200 d.idx:I32:3x4 \
  || fail "make_safetensors"
"$make" "$work/sens.safetensors" a.weight:F32:96x200:sensitivity b.weight:F32:64:sensitivity
"$quantize" "$work/syn.safetensors" -o "$out" --sensitivity "$work/sens.safetensors" --sparsity sensitive=1%,outliers=1% -q \
  || fail "synthetic safetensors with a per-weight and a per-column sensitivity"

# --- bad arguments -------------------------------------------------------------
expect_error "no arguments" "required"
expect_error "bits out of range" "--bits" "$model" -o "$out" --bits 9
expect_error "unknown method" "--method" "$model" -o "$out" --method kmeans
expect_error "bad sparsity" "--sparsity" "$model" -o "$out" --sparsity 45
expect_error "unknown sparsity item" "unknown item" "$model" -o "$out" --sparsity foo=1
expect_error "sensitive without sensitivities" "no --sensitivity" "$model" -o "$out" --sparsity 0.45%
expect_error "missing model" "model" "$work/none.bin" -o "$out"
cp "$fisher" "$work/model.txt"
expect_error "unknown model format" "unknown model format" "$work/model.txt" -o "$out"
expect_error "nothing selected" "no tensor to quantize" "$model" -o "$out" --include nomatch
expect_error "bad regex" "regular expression" "$model" -o "$out" --exclude '('
expect_error "output directory missing" "cannot create" "$model" -o "$work/no/such/dir.safetensors"
expect_error "output is input" "overwrite the input" "$work/syn.safetensors" -o "$work/syn.safetensors"
expect_error "outliers=1e-400 underflows" "too small" "$model" -o "$out" --sparsity outliers=1e-400
expect_error "sensitive=1e-400 underflows" "too small" "$model" -o "$out" --sparsity sensitive=1e-400,outliers=1%
expect_error "a denormal percentage" "too small" "$model" -o "$out" --sparsity outliers=1e-310%
expect_error "a bare P that underflows" "too small" "$model" -o "$out" --sparsity 1e-400
expect_error "hex fraction" "not a fraction" "$model" -o "$out" --sparsity outliers=0x1p-3
"$quantize" "$model" -o "$out" --sparsity outliers=0,sensitive=0 -q || fail "outliers=0 (an explicit zero) was refused"
rm -f "$out"

# --- bad files -----------------------------------------------------------------
head -c 500000 "$model" >"$work/truncated.bin"
expect_error "truncated llama2.c model" "truncated.bin" "$work/truncated.bin" -o "$out"
head -c 1000 "$work/syn.safetensors" >"$work/truncated.safetensors"
expect_error "truncated safetensors" "corrupt data" "$work/truncated.safetensors" -o "$out"
{ printf '\x20\x00\x00\x00\x00\x00\x00\x00'; printf '{"a":{"dtype":"F32","shape":[9]}}'; } >"$work/garbage.safetensors"
expect_error "corrupt header" "corrupt data" "$work/garbage.safetensors" -o "$out"
"$make" "$work/s_shape.safetensors" a.weight:F32:96x199:sensitivity b.weight:F32:33x64:sensitivity
expect_error "sensitivity shape mismatch" "shape mismatch" "$work/syn.safetensors" -o "$out" --sensitivity "$work/s_shape.safetensors"
"$make" "$work/s_dtype.safetensors" a.weight:I32:96x200 b.weight:F32:33x64:sensitivity
expect_error "sensitivity dtype mismatch" "not floating point" "$work/syn.safetensors" -o "$out" --sensitivity "$work/s_dtype.safetensors"
"$make" "$work/s_extra.safetensors" a.weight:F32:96x200:sensitivity b.weight:F32:33x64:sensitivity z.weight:F32:3x3:sensitivity
expect_error "unknown tensor in sensitivities" "not a quantized tensor" "$work/syn.safetensors" -o "$out" --sensitivity "$work/s_extra.safetensors"
"$make" "$work/s_missing.safetensors" a.weight:F32:96x200:sensitivity
expect_error "missing sensitivity" "no sensitivity for" "$work/syn.safetensors" -o "$out" --sensitivity "$work/s_missing.safetensors"
expect_error "model and sensitivity swapped" "not a quantized tensor" "$model" -o "$out" --sensitivity "$work/sens.safetensors"

# --- an interrupted run leaves nothing -----------------------------------------
"$make" "$work/big.safetensors" $(for i in 0 1 2 3; do echo "l$i.weight:F16:2048x2048"; done)
rm -f "$out"
"$quantize" "$work/big.safetensors" -o "$out" --method lloyd --bits 4 -q &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
status=$?
[ $status -eq 130 ] || fail "interrupted run: exit status $status, expected 130"
[ ! -e "$out" ] || fail "interrupted run: an output file was written"
[ -z "$(ls "$work" | grep -E '\.(spool|partial)$')" ] || fail "interrupted run: temporary files left behind"

# --- memory proportional to one tensor -----------------------------------------
if [ "$memory" = "--memory" ]; then
  # 6 tensors of 4096×4096 fp16: 192 MiB on disk, 384 MiB as float. One
  # tensor as float is 64 MiB; the quantizer adds its codes and scratch.
  "$make" "$work/mem.safetensors" $(for i in 0 1 2 3 4 5; do echo "l$i.weight:F16:4096x4096"; done)
  "$quantize" "$work/mem.safetensors" -o "$out" --method rtn --bits 3 -q --report "$work/mem.json" || fail "memory run"
  peak=$(sed -n 's/.*"peak_rss_bytes": *\([0-9]*\).*/\1/p' "$work/mem.json")
  echo "peak resident memory quantizing 6 x 4096x4096 fp16: $((peak / 1048576)) MiB"
  [ "$peak" -lt $((160 * 1048576)) ] || fail "peak memory $((peak / 1048576)) MiB is not bounded by about one tensor"
fi

if [ $failures -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all sqllm-quantize checks passed"
