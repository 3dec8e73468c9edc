#!/usr/bin/env bash
# CLI test of sqllm-convert's .safetensors mode (--layout striped|reference).
#   test_convert_layout.sh SQLLM_CONVERT SQLLM_IO_TESTS DATA_DIR
# Converts the committed .pt fixtures to reference-layout safetensors, those to
# the striped layout and back, and has the test binary check ("[.converted_layout]")
# that the striped file loads in place (io::view_quantized) with the same codes,
# LUT and CSR as the reference file's load, multiplies bit for bit as it does,
# and carries every other tensor and the metadata. Bad invocations exit non-zero
# with a message and leave no output.
set -u
convert=$1 tests=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

check() {  # check STRIPED REFERENCE
  SQLLM_STRIPED="$1" SQLLM_REFERENCE="$2" "$tests" "[.converted_layout]" >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; fail "$1 does not load in place or differs from $2"; }
}

for w in w2 w3 w4 w8; do
  "$convert" "$data/torch/$w/model.pt" -o "$tmp/$w" -q || fail "$w: .pt conversion failed"
  ref="$tmp/$w/model.safetensors"
  "$convert" "$ref" -o "$tmp/$w.striped.safetensors" --layout striped >"$tmp/log" 2>&1 ||
    { cat "$tmp/log"; fail "$w: --layout striped failed"; }
  grep -q "to the striped layout" "$tmp/log" || { cat "$tmp/log"; fail "$w: no summary"; }
  check "$tmp/$w.striped.safetensors" "$ref"
  # Back to the reference layout: loads as the original did.
  "$convert" "$tmp/$w.striped.safetensors" -o "$tmp/$w.back.safetensors" --layout reference -q ||
    fail "$w: --layout reference failed"
  check "$tmp/$w.striped.safetensors" "$tmp/$w.back.safetensors"
  # The thread count changes nothing.
  "$convert" "$ref" -o "$tmp/$w.t1.safetensors" --layout striped --threads 1 -q || fail "$w: --threads 1"
  cmp -s "$tmp/$w.t1.safetensors" "$tmp/$w.striped.safetensors" || fail "$w: --threads 1 wrote other bytes"
  # Striped to striped: the same file.
  "$convert" "$tmp/$w.striped.safetensors" -o "$tmp/$w.again.safetensors" --layout striped -q || fail "$w: striped again"
  cmp -s "$tmp/$w.again.safetensors" "$tmp/$w.striped.safetensors" || fail "$w: striped → striped changed the bytes"
done
ls "$tmp" | grep -q sqllm-tmp && fail "temporaries left behind"

# Bad invocations: non-zero exit, a message, no output.
expect_fail() {  # expect_fail PATTERN OUTPUT ARGS...
  local pattern=$1 output=$2; shift 2
  "$convert" "$@" >"$tmp/log" 2>&1 && { cat "$tmp/log"; fail "exit status 0 for: $*"; }
  grep -q -- "$pattern" "$tmp/log" || { cat "$tmp/log"; fail "no \"$pattern\" in the message for: $*"; }
  [ -e "$output" ] && fail "output $output written for: $*"
  ls "$tmp" | grep -q sqllm-tmp && fail "temporaries left behind for: $*"
  return 0
}
ref="$tmp/w3/model.safetensors"
expect_fail "needs --layout" "$tmp/bad1.safetensors" "$ref" -o "$tmp/bad1.safetensors"
expect_fail "layout" "$tmp/bad2.safetensors" "$ref" -o "$tmp/bad2.safetensors" --layout zigzag
expect_fail "applies to a .safetensors input only" "$tmp/bad3" "$data/torch/w3/model.pt" -o "$tmp/bad3" --layout striped
head -c 100 "$ref" >"$tmp/cut.safetensors"
expect_fail "runs past the end" "$tmp/bad4.safetensors" "$tmp/cut.safetensors" -o "$tmp/bad4.safetensors" --layout striped
expect_fail "the output" "$tmp/nothing" "$ref" -o "$ref" --layout striped
cmp -s "$ref" "$tmp/w3/model.safetensors" || fail "the input was touched"
echo "sqllm-convert --layout: all checks passed"
