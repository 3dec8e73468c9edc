#!/usr/bin/env bash
# The llama2c example on Hugging Face-layout models, end to end through the
# command line: stories260K exported with `llama2c export-hf` (one file, and
# two shards) with its Fisher information under HF names, quantized by
# sqllm-quantize (3-bit, 0.45% sparse) as a model directory, and evaluated:
# the perplexities must equal the llama2.c path's (the .bin, and the .bin
# quantized with the llama2.c-named Fisher file). With SQLLM_CONVERT (absent
# or "-" when sqllm-convert is not built), the quantized llama2.c file and
# the quantized two-shard HF directory are also rewritten in the striped
# layout (`sqllm-convert --layout striped`: 64-byte aligned, padding tensors
# in every shard, layers viewed in place) and must give the very same
# perplexity and greedy generation as the reference layout.
#
#   test_hf_llama.sh SQLLM_QUANTIZE LLAMA2C DATA_DIR [SQLLM_CONVERT|-]
#
# Tolerance: the dense exports are bit-identical (the loader restores
# llama2.c's q/k row order, so every float operation is the same). The
# quantized ones too in practice: quantization is per row, so permuting q/k
# rows permutes the result, and the sparse part's top fraction of a matrix is
# the same set in either order unless sensitivities tie at its threshold;
# such a tie could change a few kept weights, so 1e-4 relative in the mean
# NLL is allowed (a wrong row order or a misnamed layer moves it by > 10%).
set -uo pipefail
quantize=$1 llama2c=$2 data=$3 convert=${4:--}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

tokens=$data/dev.u16
max_tokens=4000

# nll MODEL: the mean NLL llama2c prints (empty on failure).
nll() { "$llama2c" perplexity "$1" "$tokens" --max-tokens "$max_tokens" 2>"$work/stderr" | sed -n 's/^mean NLL: //p'; }

# agree NAME A B TOLERANCE: |A − B| <= TOLERANCE·|A|, both printed.
agree() {
  echo "$1: $2 vs $3"
  [ -n "$2" ] && [ -n "$3" ] || { fail "$1: no perplexity ($(cat "$work/stderr"))"; return; }
  awk -v a="$2" -v b="$3" -v t="$4" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t * (a < 0 ? -a : a)) }' \
    || fail "$1: $2 and $3 differ by more than $4 relative"
}

# --- export ----------------------------------------------------------------------
"$llama2c" export-hf "$data/stories260K.bin" "$work/hf" --fisher "$data/fisher.safetensors" >/dev/null \
  || fail "export-hf"
"$llama2c" export-hf "$data/stories260K.bin" "$work/hf2" --shards 2 --fisher "$data/fisher.safetensors" >/dev/null \
  || fail "export-hf --shards 2"
for f in hf/config.json hf/model.safetensors hf/fisher.safetensors hf2/model-00001-of-00002.safetensors \
         hf2/model-00002-of-00002.safetensors hf2/model.safetensors.index.json hf2/fisher.safetensors; do
  [ -s "$work/$f" ] || fail "export-hf wrote no $f"
done
grep -q '"LlamaForCausalLM"' "$work/hf/config.json" || fail "config.json names no LlamaForCausalLM"

# --- dense: bit-identical to the .bin --------------------------------------------
ref=$(nll "$data/stories260K.bin")
agree "fp32 .bin vs HF directory" "$ref" "$(nll "$work/hf")" 0
agree "fp32 .bin vs HF shards" "$ref" "$(nll "$work/hf2")" 0
agree "fp32 .bin vs HF model.safetensors" "$ref" "$(nll "$work/hf/model.safetensors")" 0

# --- quantized ------------------------------------------------------------------
"$quantize" "$data/stories260K.bin" -o "$work/q.safetensors" --sensitivity "$data/fisher.safetensors" \
  --sparsity 0.45% --bits 3 -q || fail "sqllm-quantize on the .bin"
qref=$(nll "$work/q.safetensors")
for dir in hf hf2; do
  if "$quantize" "$work/$dir" -o "$work/q$dir" --sensitivity "$work/$dir/fisher.safetensors" \
       --sparsity 0.45% --bits 3 -q 2>"$work/qerr"; then
    [ -s "$work/q$dir/config.json" ] || fail "quantized $dir: no config.json"
    for f in "$work/$dir"/model*.safetensors*; do
      [ -s "$work/q$dir/$(basename "$f")" ] || fail "quantized $dir: no $(basename "$f") beside the input's"
    done
    grep -q 'self_attn.q_proj.qweight' "$work/q$dir"/model*.safetensors || fail "quantized $dir: no module-named layers"
    agree "3-bit 0.45% llama2.c vs HF ($dir)" "$qref" "$(nll "$work/q$dir")" 1e-4
  elif [ "$dir" = hf ]; then
    # A sqllm-quantize that takes no directory yet: the single HF file, config.json beside the output.
    echo "note: sqllm-quantize refused the directory ($(head -1 "$work/qerr")); quantizing model.safetensors"
    mkdir -p "$work/qhf" && cp "$work/hf/config.json" "$work/qhf/"
    "$quantize" "$work/hf/model.safetensors" -o "$work/qhf/model.safetensors" \
      --sensitivity "$work/hf/fisher.safetensors" --sparsity 0.45% --bits 3 -q || fail "sqllm-quantize on the HF file"
    agree "3-bit 0.45% llama2.c vs HF (single file)" "$qref" "$(nll "$work/qhf")" 1e-4
  else
    fail "sqllm-quantize on the sharded directory: $(cat "$work/qerr")"
  fi
done

# --- the striped layout: the same model, loaded in place -------------------------
# Same codes, LUTs and sparse values through the same kernels: bit-identical
# logits, so the perplexity and a greedy generation match exactly.
gen() { "$llama2c" generate "$1" "$data/tok512.bin" --prompt "Once upon a time" --steps 60 2>/dev/null; }
if [ "$convert" != - ]; then
  "$convert" "$work/q.safetensors" -o "$work/qs.safetensors" --layout striped -q || fail "sqllm-convert --layout striped"
  grep -q '__padding__' "$work/qs.safetensors" || fail "the striped file has no padding tensors"
  agree "3-bit reference vs striped layout (llama2.c names)" "$qref" "$(nll "$work/qs.safetensors")" 0
  [ -n "$(gen "$work/q.safetensors")" ] && [ "$(gen "$work/q.safetensors")" = "$(gen "$work/qs.safetensors")" ] \
    || fail "greedy generation differs between the reference and the striped layout"
  # The two-shard HF model: each shard converted (each gets its own __padding__.0), the index renamed.
  mkdir -p "$work/qhf2s"
  for f in "$work/qhf2"/*; do
    case "$f" in
      *.safetensors) "$convert" "$f" -o "$work/qhf2s/$(basename "$f")" --layout striped -q \
                       || fail "sqllm-convert --layout striped $(basename "$f")" ;;
      *.index.json) sed 's/\.qweight"/.striped_codes"/' "$f" >"$work/qhf2s/$(basename "$f")" ;;
      *) cp "$f" "$work/qhf2s/" ;;
    esac
  done
  [ "$(grep -l '__padding__\.0' "$work/qhf2s"/model-*.safetensors | wc -l)" -eq 2 ] \
    || fail "the striped shards do not both hold __padding__.0"
  agree "3-bit HF shards: reference vs striped layout" "$(nll "$work/qhf2")" "$(nll "$work/qhf2s")" 0
  [ "$(gen "$work/qhf2")" = "$(gen "$work/qhf2s")" ] || fail "greedy generation differs on the striped HF shards"
else
  echo "note: no sqllm-convert; the striped-layout checks are skipped"
fi

# Forward-only sensitivities from `llama2c calibrate` on the HF model come out under HF names.
head -c 8000 "$data/calib.u16" >"$work/calib.u16"
"$llama2c" calibrate "$work/hf" "$work/calib.u16" "$work/act_hf.safetensors" >/dev/null || fail "calibrate (HF)"
"$llama2c" calibrate "$data/stories260K.bin" "$work/calib.u16" "$work/act.safetensors" >/dev/null || fail "calibrate (.bin)"
"$quantize" "$work/hf" -o "$work/qact_hf" --sensitivity "$work/act_hf.safetensors" --bits 3 -q \
  || fail "sqllm-quantize with HF-named calibration sums"
"$quantize" "$data/stories260K.bin" -o "$work/qact.safetensors" --sensitivity "$work/act.safetensors" --bits 3 -q \
  || fail "sqllm-quantize with calibration sums"
agree "3-bit calibrated llama2.c vs HF" "$(nll "$work/qact.safetensors")" "$(nll "$work/qact_hf")" 1e-4

# --- bad input ----------------------------------------------------------------------
mkdir -p "$work/noconfig" && cp "$work/hf/model.safetensors" "$work/noconfig/"
if "$llama2c" perplexity "$work/noconfig" "$tokens" >/dev/null 2>"$work/stderr"; then
  fail "a model directory without config.json loaded"
fi
grep -q 'config.json: missing' "$work/stderr" || fail "no clear message for a missing config.json: $(cat "$work/stderr")"
"$llama2c" export-hf "$data/stories260K.bin" "$work/x" --dtype f8 >/dev/null 2>&1
[ $? -eq 2 ] || fail "export-hf --dtype f8 is not a usage error"
"$llama2c" export-hf "$data/stories260K.bin" "$work/x" --shards 999 >/dev/null 2>"$work/stderr"
[ $? -eq 1 ] && grep -q 'shards' "$work/stderr" || fail "export-hf --shards 999: $(cat "$work/stderr")"

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "all HF checks passed"
