#!/usr/bin/env bash
# sqllm-quantize end to end: a good run on the real model and on synthetic
# safetensors, then every kind of bad input: a clear message, a non-zero
# exit, and no output file (nor temporaries) left behind; then the file-safety
# rules (docs/CLI.md): outputs that are an input under another name, outputs
# that cannot be written, signals, `ulimit -f`, stale temporaries.
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

# Temporary files in a directory: the writer's own pattern, and the fixed
# names older versions used.
temporaries() { ls -a "${1:-$work}" | grep -E '\.sqllm-tmp\.|\.(spool|partial)$'; }
no_temporaries() { [ -z "$(temporaries "${2:-$work}")" ] || fail "$1: temporary files left behind: $(temporaries "${2:-$work}" | tr '\n' ' ')"; }

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
  no_temporaries "$name"
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
grep -q 'was .* as stored' "$work/stdout" || fail "the summary does not give the input's own size"
"$quantize" --version | grep -q '^sqllm-quantize [0-9]' || fail "--version"

# An input that is already quantized: refused (its LUTs are 2-D floats, and
# quantizing them wrote an unloadable file), or with --allow-requantize its
# layers are copied through and only its other float tensors are quantized.
cp "$out" "$work/q4.safetensors"
expect_error "already quantized" "already quantized" "$work/q4.safetensors" -o "$out"
"$quantize" "$work/q4.safetensors" -o "$work/q4q.safetensors" --allow-requantize --exclude 'norm|rms_' -q \
  || fail "--allow-requantize"
header() { head -c 200000 "$1" | tr -c '[:print:]' '\n' | grep -o '"[^"]*":{"dtype"' | sort; }
[ "$(header "$work/q4q.safetensors" | grep -c '\.qweight"')" -eq $(($(header "$work/q4.safetensors" | grep -c '\.qweight"') + 1)) ] \
  || fail "--allow-requantize: expected the quantized layers plus tok_embeddings"
header "$work/q4q.safetensors" | grep -q '"tok_embeddings.qweight"' || fail "--allow-requantize: tok_embeddings not quantized"
rm -f "$work/q4.safetensors" "$work/q4q.safetensors"

# Hugging Face names: embeddings, output head and norms are kept by default.
"$make" "$work/hf.safetensors" model.embed_tokens.weight:BF16:64x48 model.layers.0.self_attn.q_proj.weight:BF16:48x48 \
  model.layers.0.mlp.down_proj.weight:BF16:48x96 model.norm.weight:BF16:48 lm_head.weight:BF16:64x48 || fail "make hf"
"$quantize" "$work/hf.safetensors" -o "$work/hf_q.safetensors" --report "$work/hf.json" -q || fail "Hugging Face names"
grep -q '"model.layers.0.self_attn.q_proj.weight"' "$work/hf.json" && grep -q '"model.layers.0.mlp.down_proj.weight"' "$work/hf.json" \
  || fail "Hugging Face names: the linear layers were not quantized"
! grep -q 'embed_tokens\|lm_head\|model.norm' "$work/hf.json" || fail "Hugging Face names: embeddings, head or norm quantized by default"
rm -f "$work/hf.safetensors" "$work/hf_q.safetensors" "$work/hf.json"

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
expect_error "sensitive without sensitivities" "give --sparsity outliers=P" "$model" -o "$out" --sparsity 0.45%
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
# A bad value names its file and tensor: the model's, or the sensitivities'.
"$make" "$work/w_nan.safetensors" a.weight:F32:96x200 b.weight:F32:33x64:weight+nan
expect_error "NaN weight" "w_nan.safetensors: tensor \"b.weight\": weight (16, 32) is NaN or Inf" "$work/w_nan.safetensors" -o "$out"
"$make" "$work/s_nan.safetensors" a.weight:F32:96x200:sensitivity+nan b.weight:F32:33x64:sensitivity
expect_error "NaN sensitivity" "s_nan.safetensors: tensor \"a.weight\": sensitivity (48, 0) is NaN or Inf" "$work/syn.safetensors" -o "$out" --sensitivity "$work/s_nan.safetensors"

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
no_temporaries "interrupted run"

# --- outputs that are an input by another name: refused by device and inode ----
cp "$work/syn.safetensors" "$work/in.safetensors"
before=$(cksum <"$work/in.safetensors")
( cd "$work" && "$quantize" in.safetensors -o ./in.safetensors -q 2>"$work/stderr" ) && fail "-o ./INPUT: exit status 0"
grep -q "overwrite the input" "$work/stderr" || fail "-o ./INPUT: no clear message: $(cat "$work/stderr")"
ln "$work/in.safetensors" "$work/hardlink.safetensors"
expect_error "output is a hard link to the input" "overwrite the input" "$work/in.safetensors" -o "$work/hardlink.safetensors"
ln -s in.safetensors "$work/symlink.safetensors"
expect_error "output is a symlink to the input" "overwrite the input" "$work/in.safetensors" -o "$work/symlink.safetensors"
expect_error "output is the sensitivities" "overwrite the --sensitivity" "$work/syn.safetensors" -o "$work/./sens.safetensors" --sensitivity "$work/sens.safetensors"
expect_error "report is the input" "overwrite the input" "$work/in.safetensors" -o "$out" --report "$work/hardlink.safetensors"
expect_error "report is the output" "overwrite the output" "$work/in.safetensors" -o "$out" --report "$work/./out.safetensors"
[ "$(cksum <"$work/in.safetensors")" = "$before" ] || fail "the input was modified"
rm -f "$work/hardlink.safetensors" "$work/symlink.safetensors"

# --- outputs that cannot be written: refused before any work --------------------
# (big.safetensors takes seconds to quantize with lloyd: a refusal within a
# second came before the work.)
mkdir "$work/adir" "$work/adir.safetensors"
fast_error() {
  local name=$1 fragment=$2
  shift 2
  local t0 t1
  t0=$(date +%s%N)
  expect_error "$name" "$fragment" "$@"
  t1=$(date +%s%N)
  [ $(((t1 - t0) / 1000000)) -lt 1500 ] || fail "$name: refused only after $(((t1 - t0) / 1000000)) ms of work"
}
# (-o DIR writes a model directory; a directory named like a file is refused.)
fast_error "output is a directory" "adir.safetensors: is a directory" "$work/big.safetensors" -o "$work/adir.safetensors" --method lloyd
fast_error "output directory missing (fast)" "no/such" "$work/big.safetensors" -o "$work/no/such/x.safetensors" --method lloyd
fast_error "report is a directory" "adir: is a directory" "$work/big.safetensors" -o "$out" --report "$work/adir" --method lloyd
fast_error "report directory missing" "no/r.json" "$work/big.safetensors" -o "$out" --report "$work/no/r.json" --method lloyd
no_temporaries "refused outputs" "$work/adir"

# The report's directory disappears during the run: the report cannot be
# renamed into place, so the model is not either (both or neither).
"$make" "$work/one.safetensors" l0.weight:F16:2048x2048
mkdir "$work/rdir"
"$quantize" "$work/one.safetensors" -o "$out" --method lloyd --bits 4 --threads 1 -q --report "$work/rdir/r.json" \
  2>"$work/stderr" &
pid=$!
sleep 0.3
rm -rf "$work/rdir"
wait $pid && fail "report directory removed: exit status 0"
[ ! -e "$out" ] || fail "report directory removed: the model was written without its report"
grep -q "r.json" "$work/stderr" || fail "report directory removed: no message naming the report: $(cat "$work/stderr")"
no_temporaries "report directory removed"

# --- look-alike files are neither followed nor deleted --------------------------
la=$work/la
mkdir "$la"
echo precious >"$work/victim"
ln -s "$work/victim" "$la/o.safetensors.spool"
ln -s "$work/victim" "$la/o.safetensors.partial"
echo "someone's" >"$la/r.json.spool"
echo "someone's" >"$la/r.json.partial"
"$quantize" "$work/syn.safetensors" -o "$la/o.safetensors" --report "$la/r.json" -q || fail "run beside look-alikes"
[ "$(cat "$work/victim")" = precious ] || fail "a symlink at <out>.spool/.partial was followed"
[ -L "$la/o.safetensors.spool" ] && [ -L "$la/o.safetensors.partial" ] || fail "symlinks at <out>.spool/.partial were removed"
[ -s "$la/o.safetensors" ] && [ -s "$la/r.json" ] || fail "no output beside look-alikes"
rm -f "$la/o.safetensors" "$la/r.json"
"$quantize" "$work/syn.safetensors" -o "$la/o.safetensors" --report "$la/r.json" --sparsity nonsense -q 2>/dev/null \
  && fail "bad sparsity accepted"
(ulimit -f 20; exec "$quantize" "$model" -o "$la/o.safetensors" --report "$la/r.json" -q 2>/dev/null) \
  && fail "ulimit -f 20: exit status 0"
[ "$(cat "$la/r.json.spool")" = "someone's" ] && [ "$(cat "$la/r.json.partial")" = "someone's" ] \
  || fail "a failed run deleted <file>.spool/.partial it did not create"
[ -L "$la/o.safetensors.spool" ] && [ -L "$la/o.safetensors.partial" ] || fail "a failed run deleted symlinks it did not create"
[ -z "$(ls "$la" | grep -F .sqllm-tmp.)" ] || fail "look-alikes: temporaries left behind"
[ "$(cat "$work/victim")" = precious ] || fail "a symlink at <out>.spool/.partial was followed"

# --- signals: SIGTERM, SIGHUP and a second SIGINT leave no temporary ------------
# Two 2048x2048 tensors, lloyd, one thread: seconds a tensor, so the run is
# still in its first tensor when the signal comes (a first SIGINT stops the
# run at the tensor's next block of rows; a second kills it at once).
"$make" "$work/sig.safetensors" l0.weight:F16:2048x2048 l1.weight:F16:2048x2048
wait_for_temporaries() {
  for _ in $(seq 200); do
    [ -n "$(temporaries "$work")" ] && return 0
    sleep 0.05
  done
  return 1
}
for sig in TERM HUP INT2; do
  rm -f "$out"
  "$quantize" "$work/sig.safetensors" -o "$out" --report "$work/sig.json" --method lloyd --bits 4 --threads 1 -q \
    2>"$work/stderr" &
  pid=$!
  wait_for_temporaries || fail "SIG$sig: the run made no temporaries"
  sleep 0.2
  if [ $sig = INT2 ]; then
    # The first SIGINT stops the run at its next block of rows, so the second
    # may find it gone (or still pending: the two merge): either way exit 130
    # and nothing left; the message says which path ended it.
    kill -INT $pid
    sleep 0.01
    kill -INT $pid 2>/dev/null
  else
    kill -$sig $pid
  fi
  wait $pid
  status=$?
  case $sig in TERM) want=143 ;; HUP) want=129 ;; INT2) want=130 ;; esac
  [ $status -eq $want ] || fail "SIG$sig: exit status $status, expected $want"
  if [ $sig = INT2 ]; then
    grep -Eq "temporary files removed|interrupted; no output written" "$work/stderr" ||
      fail "SIG$sig: no message: $(cat "$work/stderr")"
  else
    grep -q "temporary files removed" "$work/stderr" || fail "SIG$sig: no message: $(cat "$work/stderr")"
  fi
  [ ! -e "$out" ] && [ ! -e "$work/sig.json" ] || fail "SIG$sig: an output was written"
  no_temporaries "SIG$sig"
done

# --- SIGBUS: an input truncated while mapped ends the run, temporaries removed ---
cp "$work/sig.safetensors" "$work/shrinks.safetensors"
rm -f "$out"
"$quantize" "$work/shrinks.safetensors" -o "$out" --method lloyd --bits 4 --threads 1 -q 2>"$work/stderr" &
pid=$!
wait_for_temporaries || fail "SIGBUS: the run made no temporaries"
sleep 0.2
truncate -s 4096 "$work/shrinks.safetensors"  # the second tensor's pages are gone
wait $pid
status=$?
[ $status -eq $((128 + $(kill -l BUS))) ] || fail "SIGBUS: exit status $status, expected death by SIGBUS"
grep -q "SIGBUS.*temporary files removed" "$work/stderr" || fail "SIGBUS: no message: $(cat "$work/stderr")"
[ ! -e "$out" ] || fail "SIGBUS: an output was written"
no_temporaries "SIGBUS"

# --- SIGXFSZ: a file over `ulimit -f` fails the write with a clear message ------
# (stories260K's output is about 400 KiB; 100 blocks are 100 KiB in bash.)
(ulimit -f 100; exec "$quantize" "$model" -o "$out" --report "$work/x.json" -q 2>"$work/stderr")
status=$?
[ $status -eq 1 ] || fail "ulimit -f: exit status $status, expected 1 (not killed by SIGXFSZ)"
grep -q "File too large" "$work/stderr" || fail "ulimit -f: no 'File too large': $(cat "$work/stderr")"
grep -q "out.safetensors.sqllm-tmp" "$work/stderr" || fail "ulimit -f: the message does not name the file written"
[ ! -e "$out" ] && [ ! -e "$work/x.json" ] || fail "ulimit -f: an output was written"
no_temporaries "ulimit -f"

# --- stale temporaries: a dead run's are removed at startup, a live run's kept --
sh -c 'exit 0' &
dead=$!
wait $dead
sleep 30 &
live=$!
echo stale >"$out.sqllm-tmp.$dead.0123456789abcdef"
echo live >"$out.sqllm-tmp.$live.0123456789abcdef"
echo other >"$work/other.sqllm-tmp.$dead.0123456789abcdef"
"$quantize" "$work/syn.safetensors" -o "$out" 2>"$work/stderr" >/dev/null || fail "run with stale temporaries"
[ ! -e "$out.sqllm-tmp.$dead.0123456789abcdef" ] || fail "a dead run's temporary was not removed"
grep -qF "removed $out.sqllm-tmp.$dead" "$work/stderr" || fail "the removal was not reported: $(cat "$work/stderr")"
[ "$(cat "$out.sqllm-tmp.$live.0123456789abcdef")" = live ] || fail "a live run's temporary was removed"
[ -e "$work/other.sqllm-tmp.$dead.0123456789abcdef" ] || fail "another output's temporary was removed"
kill $live
wait $live 2>/dev/null
rm -f "$out.sqllm-tmp.$live.0123456789abcdef" "$work/other.sqllm-tmp.$dead.0123456789abcdef" "$out"

# --- a llama.cpp importance matrix as the sensitivities (llama2.c names mapped
# to llama.cpp's: layers.0.wq -> blk.0.attn_q.weight) -------------------------
imatrix="$(dirname "$0")/../data/imatrix/stories260K.imatrix.gguf"
"$quantize" "$model" -o "$out" --sensitivity "$imatrix" --sparsity 0.45% -q --report "$work/imx.json" ||
  fail "quantize with an imatrix: exit status $?"
python3 - "$out" "$work/imx.json" <<'EOF2' || fail "imatrix run: metadata or kept weights wrong"
import json, struct, sys
f = open(sys.argv[1], "rb")
h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
assert h["__metadata__"]["sqllm.sensitivity"].startswith("imatrix:"), h["__metadata__"]["sqllm.sensitivity"]
r = json.load(open(sys.argv[2]))
assert r["total"]["nnz"] > 0 and len(r["tensors"]) == 35, r["total"]
EOF2
expect_error "imatrix without the model's weights" 'no imatrix entry "blk.0.attn_q.weight"' "$model" -o "$work/out.safetensors" \
  --sensitivity "$(dirname "$0")/../data/imatrix/gguf_py_written.gguf"

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
