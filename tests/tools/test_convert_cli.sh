#!/usr/bin/env bash
# CLI test of sqllm-convert on the committed fixtures (tests/data/torch).
#   test_convert_cli.sh SQLLM_CONVERT SQLLM_TORCH_TESTS DATA_DIR
# Converts the w3 fixture, checks the directory's files, has the test
# binary load the output and multiply ("[.converted]"), and checks that bad
# inputs exit 1 with a message and leave no output.
set -u
convert=$1 tests=$2 data=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$convert" "$data/torch/w3/model.pt" -o "$tmp/out" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "conversion failed"; }
for f in model.safetensors quant_config.json config.json generation_config.json tokenizer_config.json special_tokens_map.json; do
  [ -f "$tmp/out/$f" ] || fail "missing $f"
done
grep -q '"wbits": 3' "$tmp/out/quant_config.json" || fail "quant_config.json has no wbits 3"
grep -q '"quant_method": "squeezellm"' "$tmp/out/quant_config.json" || fail "quant_config.json has no quant_method"
cmp -s "$data/torch/w3/config.json" "$tmp/out/config.json" || fail "config.json not copied"
SQLLM_CONVERTED="$tmp/out/model.safetensors" "$tests" "[.converted]" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "converted model does not load or multiply"; }
ls "$tmp/out" | grep -q sqllm-tmp && fail "temporaries left behind"

# --config-dir and --quant-config.
mkdir "$tmp/cfg"
echo '{"architectures": ["X"]}' >"$tmp/cfg/config.json"
"$convert" "$data/torch/w4/model.pt" -o "$tmp/out4" --config-dir "$tmp/cfg" -q || fail "--config-dir"
cmp -s "$tmp/cfg/config.json" "$tmp/out4/config.json" || fail "--config-dir config.json not copied"
[ -f "$tmp/out4/tokenizer_config.json" ] && fail "--config-dir: files taken from beside the model"

# Bad inputs: exit 1, a message, no output.
expect_fail() {  # expect_fail PATTERN ARGS...
  local pattern=$1; shift
  "$convert" "$@" >"$tmp/log" 2>&1
  local rc=$?
  [ $rc -eq 1 ] || { cat "$tmp/log"; fail "exit status $rc for: $*"; }
  grep -q "$pattern" "$tmp/log" || { cat "$tmp/log"; fail "no \"$pattern\" in the message for: $*"; }
}
echo '{"wbits": 4}' >"$tmp/qc4.json"
expect_fail "says wbits 4" "$data/torch/w3/model.pt" -o "$tmp/bad1" --quant-config "$tmp/qc4.json"
[ -e "$tmp/bad1/model.safetensors" ] && fail "output written despite the wbits mismatch"
expect_fail "allow-list" "$data/torch/bad/global_os_system.pt" -o "$tmp/bad2"
expect_fail "not a readable zip" "$data/torch/w3/config.json" -o "$tmp/bad3"
expect_fail "startrows disagrees" "$data/torch/bad/bad_startrows.pt" -o "$tmp/bad4"
expect_fail "no quantized layer" "$data/torch/misc.pt" -o "$tmp/bad5"
expect_fail "no such file" "$data/torch/w3/model.pt" -o "$tmp/bad6" --quant-config "$tmp/nope.json"
head -c 5000 "$data/torch/w3/model.pt" >"$tmp/cut.pt"
expect_fail "not a readable zip" "$tmp/cut.pt" -o "$tmp/bad7"
for d in bad1 bad2 bad3 bad4 bad5 bad6 bad7; do
  [ -e "$tmp/$d/model.safetensors" ] && fail "$d: output written"
  [ "$d" != bad4 ] && [ -e "$tmp/$d" ] && fail "$d: output directory created for an input refused before any work"
  ls "$tmp/$d" 2>/dev/null | grep -q sqllm-tmp && fail "$d: temporaries left behind"
done
echo "sqllm-convert CLI: all checks passed"
