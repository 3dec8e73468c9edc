#!/usr/bin/env bash
# sqllm-quantize on Hugging Face model directories: a synthetic sharded
# Llama (bf16, 2 shards, index, config and tokenizer files) in, a model
# directory out; --dry-run, --tensor-bits, --part/--merge (byte for byte
# against a single run), and the inputs and options that must be refused.
# With SQLLM_CONVERT (absent or "-" when sqllm-convert is not built): a
# quantized model rewritten in the striped layout (padding tensors in both
# shards) is requantized with --allow-requantize, whole and in parts.
#
#   test_quantize_hf.sh SQLLM_QUANTIZE MAKE_SAFETENSORS CHECK_QUANTIZED_MODEL [SQLLM_CONVERT|-]
set -uo pipefail
quantize=$1
make=$2
check=$3
convert=${4:--}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
expect_error() {  # name, message fragment, args...
  local name=$1 fragment=$2
  shift 2
  if "$quantize" "$@" -q >"$work/stdout" 2>"$work/stderr"; then
    fail "$name: exit status 0"
  elif ! grep -qF -- "$fragment" "$work/stderr"; then
    fail "$name: no \"$fragment\" in: $(cat "$work/stderr")"
  fi
}

# --- a small Llama in Hugging Face layout: hidden 96, 4 heads, 2 KV heads,
# intermediate 200, vocabulary 300, 2 layers; bf16; shard 1 holds the
# embeddings and layer 0, shard 2 layer 1, the final norm and the head.
hf="$work/hf"
mkdir "$hf"
layer() {  # layer index: its tensors, as make_safetensors arguments
  local p="model.layers.$1"
  echo "$p.input_layernorm.weight:BF16:96 $p.self_attn.q_proj.weight:BF16:96x96 $p.self_attn.q_proj.bias:BF16:96" \
       "$p.self_attn.k_proj.weight:BF16:48x96 $p.self_attn.v_proj.weight:BF16:48x96" \
       "$p.self_attn.o_proj.weight:BF16:96x96 $p.post_attention_layernorm.weight:BF16:96" \
       "$p.mlp.gate_proj.weight:BF16:200x96 $p.mlp.up_proj.weight:BF16:200x96 $p.mlp.down_proj.weight:BF16:96x200"
}
s1=model-00001-of-00002.safetensors
s2=model-00002-of-00002.safetensors
# shellcheck disable=SC2046
"$make" "$hf/$s1" model.embed_tokens.weight:BF16:300x96 $(layer 0) >/dev/null || fail "make shard 1"
# shellcheck disable=SC2046
"$make" "$hf/$s2" $(layer 1) model.norm.weight:BF16:96 lm_head.weight:BF16:300x96 >/dev/null || fail "make shard 2"
python3 - "$hf" "$s1" "$s2" <<'EOF'
import json, struct, sys, os
d, shards = sys.argv[1], sys.argv[2:]
wm, total = {}, 0
for s in shards:
    with open(os.path.join(d, s), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    for k, v in h.items():
        if k != "__metadata__":
            wm[k] = s
            total += v["data_offsets"][1] - v["data_offsets"][0]
json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))},
          open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)
json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": 96, "intermediate_size": 200,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 300,
           "torch_dtype": "bfloat16"}, open(os.path.join(d, "config.json"), "w"), indent=2)
open(os.path.join(d, "tokenizer.json"), "w").write('{"version": "1.0", "model": {"type": "BPE"}}\n')
EOF

# --- defaults: the linear layers of the blocks quantized, the rest copied bit for bit
out="$work/q"
"$quantize" "$hf" -o "$out" --threads 2 -q || fail "quantize the sharded model: exit status $?"
for f in "$s1" "$s2" model.safetensors.index.json quant_config.json config.json tokenizer.json; do
  [ -f "$out/$f" ] || fail "output has no $f"
done
cmp -s "$hf/config.json" "$out/config.json" || fail "config.json not copied unchanged"
cmp -s "$hf/tokenizer.json" "$out/tokenizer.json" || fail "tokenizer.json not copied unchanged"
"$check" "$hf" "$out" 0.3 >"$work/check" || fail "check_quantized_model: $(grep FAIL "$work/check")"
grep -q "^14 layers quantized\|14 layers quantized" "$work/check" || fail "expected 14 quantized layers: $(tail -1 "$work/check")"
grep -q "model.layers.0.self_attn.q_proj: 3-bit 96x96" "$work/check" || fail "q_proj not 3-bit under its module name"
python3 - "$out" <<'EOF' || fail "index or quant_config.json wrong"
import json, struct, sys, os
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
qc = json.load(open(os.path.join(d, "quant_config.json")))
total, names = 0, set()
for s in sorted(set(idx["weight_map"].values())):
    with open(os.path.join(d, s), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    for k, v in h.items():
        if k == "__metadata__": continue
        assert idx["weight_map"][k] == s, (k, s)
        names.add(k)
        total += v["data_offsets"][1] - v["data_offsets"][0]
assert names == set(idx["weight_map"]), "index and shards differ"
assert idx["metadata"]["total_size"] == total
assert "model.layers.1.mlp.down_proj.qweight" in names and "lm_head.weight" in names
assert "model.embed_tokens.weight" in names and "model.layers.0.self_attn.q_proj.bias" in names
assert qc["wbits"] == 3 and qc["quant_method"] == "squeezellm", qc
assert len(qc["sqllm"]["layers"]) == 14
assert qc["sqllm"]["layers"]["model.layers.0.mlp.down_proj"]["shape"] == [96, 200]
EOF
expect_error "requantize the output" "already quantized" "$out" -o "$work/qq"

# --- --dry-run: the plan, nothing written
"$quantize" "$hf" -o "$work/dry" --dry-run --tensor-bits 'mlp\.down_proj=4' >"$work/plan" 2>&1 || fail "--dry-run: exit status $?"
[ -e "$work/dry" ] && fail "--dry-run wrote $work/dry"
grep -q "model.layers.1.mlp.down_proj.weight .*quantize 4-bit" "$work/plan" || fail "--dry-run plan lacks down_proj at 4 bits: $(cat "$work/plan")"
grep -q "lm_head.weight .*copy" "$work/plan" || fail "--dry-run plan does not copy lm_head"
grep -q "14 tensors to quantize" "$work/plan" || fail "--dry-run totals: $(tail -1 "$work/plan")"

# --- per-tensor widths and sparsity, recorded per layer
"$quantize" "$hf" -o "$work/mixed" -q --tensor-bits 'mlp\.down_proj=4' --tensor-bits 'mlp=2' \
  --tensor-sparsity 'self_attn\.o_proj=outliers=1%' || fail "--tensor-bits run: exit status $?"
"$check" "$hf" "$work/mixed" 0.6 >"$work/check" || fail "mixed widths: $(grep FAIL "$work/check")"
grep -q "model.layers.0.mlp.down_proj: 4-bit" "$work/check" || fail "down_proj is not 4-bit (first match wins)"
grep -q "model.layers.0.mlp.up_proj: 2-bit" "$work/check" || fail "up_proj is not 2-bit"
grep -q "model.layers.0.self_attn.v_proj: 3-bit .* 0 kept" "$work/check" || fail "v_proj not 3-bit dense"
grep -q "model.layers.0.self_attn.o_proj: 3-bit 96x96, 92 kept" "$work/check" || fail "o_proj did not keep 1%: $(grep o_proj "$work/check")"
python3 -c "
import json,sys; qc=json.load(open('$work/mixed/quant_config.json'))['sqllm']['layers']
assert qc['model.layers.1.mlp.down_proj']['bits']==4 and qc['model.layers.1.mlp.gate_proj']['bits']==2
assert qc['model.layers.1.self_attn.o_proj']['sparsity']=='outliers=1%', qc['model.layers.1.self_attn.o_proj']
" || fail "quant_config.json does not record each layer's settings"

# --- two partial runs and a merge give the single run's bytes
"$quantize" "$hf" -o "$work/parts" --part 2/2 --threads 1 -q || fail "--part 2/2: exit status $?"
expect_error "merge before every part" "part(s) 1 of 2 have not finished" --merge "$work/parts"
"$quantize" "$hf" -o "$work/parts" --part 1/2 --threads 1 -q || fail "--part 1/2: exit status $?"
[ -f "$work/parts/model.safetensors.index.json" ] && fail "a partial run wrote the index"
"$quantize" --merge "$work/parts" -q || fail "--merge: exit status $?"
for f in "$s1" "$s2" model.safetensors.index.json quant_config.json config.json tokenizer.json; do
  cmp -s "$out/$f" "$work/parts/$f" || fail "part runs + merge: $f differs from the single run's"
done
[ "$(find "$work/parts" -name '.sqllm-part-*' | wc -l)" -eq 0 ] || fail "--merge left the part records"
"$quantize" "$hf" -o "$work/p3" --part 1/2 --bits 4 -q || fail "--part 1/2 --bits 4"
"$quantize" "$hf" -o "$work/p3" --part 2/2 -q || fail "--part 2/2"
# More parts than files: the parts without a file write only their record.
for k in 1 2 3; do "$quantize" "$hf" -o "$work/p4" --part "$k/3" -q 2>/dev/null || fail "--part $k/3: exit status $?"; done
"$quantize" --merge "$work/p4" -q || fail "--merge of 3 parts of 2 files"
cmp -s "$out/model.safetensors.index.json" "$work/p4/model.safetensors.index.json" || fail "3 parts: index differs"
expect_error "merge of parts run differently" "other settings" --merge "$work/p3"

# --- refused: before any work, with a clear message
expect_error "sharded model to one file" "is written to a directory" "$hf" -o "$work/x.safetensors"
expect_error "part out of range" "expected K/N" "$hf" -o "$work/x" --part 3/2
expect_error "output is the input directory" "is the input's directory" "$hf" -o "$hf"
expect_error "bad --tensor-bits" "the width must be 1..8" "$hf" -o "$work/x" --tensor-bits 'mlp=9'
expect_error "bad --tensor-bits rule" "expected REGEX=VALUE" "$hf" -o "$work/x" --tensor-bits 'mlp'
expect_error "sensitive rule without sensitivities" "no --sensitivity file" "$hf" -o "$work/x" --tensor-sparsity 'mlp=0.45%'
cp -r "$hf" "$work/bad"
sed -i 's/"model.norm.weight": "model-00002/"model.norm.weight": "model-00001/' "$work/bad/model.safetensors.index.json"
expect_error "index disagrees with the shards" "which has no such tensor" "$work/bad" -o "$work/x"
sed -i 's/"model.norm.weight": "model-00001-of-00002.safetensors"/"model.norm.weight": "..\/..\/etc\/passwd"/' "$work/bad/model.safetensors.index.json"
expect_error "index names a file elsewhere" "not a file in the index's directory" "$work/bad" -o "$work/x"
cp "$hf/model.safetensors.index.json" "$work/bad/"
sed -i '/"model.embed_tokens.weight"/d' "$work/bad/model.safetensors.index.json"
expect_error "index misses a tensor" "which the index does not map" "$work/bad" -o "$work/x"
[ -e "$work/x" ] && [ -n "$(ls -A "$work/x")" ] && fail "a refused run wrote into $work/x: $(ls -A "$work/x")"

# A run that fails after creating its output directory removes it again.
"$make" "$work/nan.safetensors" model.layers.0.mlp.up_proj.weight:F32:8x64:weight+nan >/dev/null
expect_error "NaN weight" "NaN" "$work/nan.safetensors" -o "$work/newdir"
[ -e "$work/newdir" ] && fail "a failed run left the directory it created: $(ls -A "$work/newdir")"

# --- the options that keep embeddings and the head can be turned off
"$quantize" "$hf" -o "$work/all" -q --quantize-embeddings --quantize-output || fail "--quantize-embeddings/--quantize-output"
"$check" "$hf" "$work/all" 0.3 >"$work/check" || fail "all quantized: $(grep FAIL "$work/check")"
grep -q "16 layers quantized" "$work/check" || fail "embeddings and head not quantized: $(tail -1 "$work/check")"

# --- a striped-layout input: its padding tensors ("__padding__.<n>", one set per shard) are
# skipped, its quantized layers copied through, the output stays striped, parts merge alike.
if [ "$convert" != - ]; then
  # The sparse o_proj arrays (97 row pointers: 388 bytes) make both shards need padding.
  "$quantize" "$hf" -o "$work/sp" --tensor-sparsity 'o_proj=outliers=1%' -q || fail "quantize for the striped input"
  mkdir "$work/st"
  for f in "$work/sp"/* ; do
    case "$f" in
      *.safetensors) "$convert" "$f" -o "$work/st/$(basename "$f")" --layout striped -q || fail "sqllm-convert $(basename "$f")" ;;
      *.index.json) sed 's/\.qweight"/.striped_codes"/' "$f" >"$work/st/$(basename "$f")" ;;
      *) cp "$f" "$work/st/" ;;
    esac
  done
  for f in "$s1" "$s2"; do
    grep -q '"__padding__\.0"' "$work/st/$f" || fail "striped $f has no padding tensor"
  done
  expect_error "requantize a striped model" "already quantized" "$work/st" -o "$work/x"
  "$quantize" "$work/st" --allow-requantize --quantize-output -o "$work/x" --dry-run >"$work/plan" 2>&1 \
    || fail "--dry-run on the striped model: $(cat "$work/plan")"
  grep -q "lm_head.weight .*-> lm_head.striped_codes" "$work/plan" || fail "--dry-run: lm_head not planned striped"
  ! grep -q "__padding__" "$work/plan" || fail "--dry-run lists padding tensors"
  "$quantize" "$work/st" -o "$work/stq" --allow-requantize --quantize-output -q 2>"$work/stderr" \
    || fail "--allow-requantize on the striped model: $(cat "$work/stderr")"
  "$check" "$work/st" "$work/stq" 0.3 >"$work/check" || fail "striped requantized: $(grep FAIL "$work/check")"
  grep -q "15 layers quantized" "$work/check" || fail "striped requantized: $(tail -1 "$work/check")"
  grep -q '"lm_head.striped_codes"' "$work/stq/$s2" || fail "lm_head not written in the striped layout"
  ! grep -q '__padding__' "$work/stq/model.safetensors.index.json" || fail "the index maps padding tensors"
  "$quantize" "$work/st" -o "$work/stp" --allow-requantize --quantize-output --part 2/2 -q || fail "striped --part 2/2"
  "$quantize" "$work/st" -o "$work/stp" --allow-requantize --quantize-output --part 1/2 -q || fail "striped --part 1/2"
  "$quantize" --merge "$work/stp" -q || fail "striped --merge"
  for f in "$s1" "$s2" model.safetensors.index.json quant_config.json; do
    cmp -s "$work/stq/$f" "$work/stp/$f" || fail "striped part runs + merge: $f differs from the single run's"
  done
else
  echo "note: no sqllm-convert; the striped-input checks are skipped"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all Hugging Face CLI checks passed"
