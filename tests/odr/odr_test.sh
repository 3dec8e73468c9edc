#!/usr/bin/env bash
# tests/odr/odr_test.sh — sqllm's ODR test: code that is not dispatched at run
# time must not be shared between translation units built with different -m
# flags.
#
# An engine may compile one file with -mavx2 -mfma and another without. The
# linker keeps one copy of each inline function (C++'s one-definition rule
# lets it), so a function both units instantiate runs the copy of whichever
# object came first, in both units: if that is the AVX copy, the portable
# unit executes AVX instructions and dies of SIGILL on a CPU without AVX.
# sqllm prevents this by putting everything in an inline namespace named
# after the compile-time ISA (include/sqllm/config.hpp): the two units
# instantiate differently named functions.
#
# The test builds odr_portable.cpp (no -m flags; main) and odr_avx.cpp (the
# same sqllm::quantize<3, half, csr<>>, gemv and gemm) with, in turn,
#     -mavx2 -mfma      -march=x86-64-v4      -march=native (if it has AVX2)
# and for each:
#   1. links both orders (portable.o avx.o and avx.o portable.o) and runs
#      them here (both units, when this CPU runs the AVX one: their quantized
#      bytes must be equal), under `qemu-x86_64 -cpu Nehalem` (no AVX: the
#      AVX unit is not called, the portable one must not die of SIGILL), and
#      for -mavx2 -mfma under `qemu-x86_64 -cpu Haswell` (AVX2, no AVX-512);
#   2. checks the symbols (nm): the two objects share no defined weak or
#      global sqllm symbol but the allowed ones below;
#   3. checks every other symbol they share (the standard library's
#      instantiations, e.g. std::vector<double>::_M_fill_insert from
#      sqllm's code): the AVX object's copy must contain no instruction
#      outside the x86-64 baseline (VEX/EVEX, BMI, LZCNT, POPCNT, SSE3+),
#      since the linker may pick that copy for the portable unit too. This
#      is the static form of step 1: it holds whichever paths the run took.
#
# Allowed shared sqllm symbols: sqllm::error (its constructor, destructor,
# code(), message(), vtable, typeinfo, and DW.ref.<its typeinfo>, the
# exception tables' pointer to it) and sqllm::to_string(sqllm::errc).
# The exception type is deliberately outside the ABI namespace (error.hpp):
# an error thrown by one unit must be caught as sqllm::error by every other,
# and that needs one typeinfo. Step 3 still checks that their AVX copies
# hold no AVX instruction.
#
# Negative control: the AVX unit built once more with -mavx2 -mfma but the
# ISA macros undefined (-U__AVX2__ ...), so config.hpp names its namespace
# like the portable unit's while the code is AVX2. Steps 1 and 2 must catch
# it (SIGILL under qemu in one link order; shared abi_v0_1 symbols), or the
# test itself is broken and fails.
#
# Usage: odr_test.sh --cxx CXX --work DIR [--qemu QEMU_X86_64] [--opt "-O2"]
#                    [-I DIR]... [--skip-control] [--only avx2|v4|avx512|native]
#                    [--sqllm-include DIR (default: this repository's include/)]
#                    [--skip-exit-code N]
# Exit status 0 if every check passed; 1 if one failed; N (if given) if every
# check that ran passed but qemu-x86_64 was missing, so the emulated runs on a
# CPU without AVX did not (ctest: SKIP_RETURN_CODE).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cxx="" work="" qemu="" opt="-O2" control=1 only="" skip_code=0
sqllm_include="$here/../../include"
includes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cxx) cxx="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --qemu) qemu="$2"; shift 2 ;;
    --opt) opt="$2"; shift 2 ;;
    -I) includes+=(-I "$2"); shift 2 ;;
    --sqllm-include) sqllm_include="$2"; shift 2 ;;
    --skip-control) control=0; shift ;;
    --only) only="$2"; shift 2 ;;
    --skip-exit-code) skip_code="$2"; shift 2 ;;
    *) echo "odr_test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
includes=(-I "$sqllm_include" "${includes[@]}")
[ -n "$cxx" ] && [ -n "$work" ] || { echo "usage: odr_test.sh --cxx CXX --work DIR [--qemu QEMU] [-I DIR]..." >&2; exit 2; }
case "$(uname -m)" in
  x86_64) ;;
  *) echo "odr_test.sh: SKIP: the ODR test is for x86-64 hosts (this is $(uname -m))"; exit 0 ;;
esac
if [ -z "$qemu" ] || ! command -v "$qemu" >/dev/null 2>&1; then
  echo "odr_test.sh: qemu-x86_64 not found (Debian: apt-get install qemu-user): the emulated runs on a CPU without"
  echo "             AVX are SKIPPED; the native runs and the symbol checks still run"
  qemu=""
fi
# qemu emulates AVX2 (the Haswell run) from 7.2 on.
qemu_avx2=0
if [ -n "$qemu" ]; then
  qv="$("$qemu" --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -1)"
  read -r qmaj qmin <<<"${qv:-0 0}"
  if [ "$qmaj" -gt 7 ] || { [ "$qmaj" -eq 7 ] && [ "$qmin" -ge 2 ]; }; then qemu_avx2=1; fi
fi
mkdir -p "$work" || exit 2
cd "$work" || exit 2
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Instructions outside the x86-64 baseline (SSE2): AVX/AVX2/AVX-512/FMA/F16C
# mnemonics all start with v, AVX-512 mask instructions with k; then BMI1/2,
# ABM, MOVBE and the SSE3..SSE4.2 mnemonics a compiler emits without VEX.
beyond_baseline='^(v[a-z0-9]+|k(mov|and|or|xor|not|test|shift|add|unpck)[a-z0-9]*|andn|bextr|blsi|blsmsk|blsr|bzhi|mulx|pdep|pext|rorx|sarx|shlx|shrx|lzcnt|tzcnt|popcnt|movbe|crc32[bwlq]?|pshufb|palignr|phadd[a-z]*|phsub[a-z]*|pmaddubsw|pmulhrsw|psign[bwd]|pabs[bwd]|haddp[sd]|hsubp[sd]|addsubp[sd]|movddup|movshdup|movsldup|lddqu|pblend[a-z]*|blendp[sd]|blendvp[sd]|ptest|pmin[su][bwd]|pmax[su][bwd]|pmuldq|pmulld|pmov[sz]x[a-z]*|pextr[bdq]|pinsr[bdq]|extractps|insertps|round[sp][sd]|dpp[sd]|mpsadbw|phminposuw|packusdw|pcmpeqq|pcmpgtq|pcmp[ei]stri|pcmp[ei]strm|movntdqa)$'

compile() {  # compile OUT SRC FLAGS...
  local out="$1" src="$2"
  shift 2
  "$cxx" -std=c++17 $opt "$@" "${includes[@]}" -c "$here/$src" -o "$out" 2>"$out.log" ||
    { cat "$out.log"; return 1; }
}

# Defined weak or global symbols of an object (mangled), one per line.
defined() { nm --defined-only "$1" | awk '$2 ~ /^[A-Z]$/ || $2 == "u" {print $3}' | sort -u; }

# Step 2 and 3 for objects $1 (portable) and $2 (AVX); prints what it finds,
# returns 1 if a sqllm symbol is shared (sqllm), 2 if an AVX copy is unsafe (baseline), 3 both.
symbol_check() {
  local p="$1" a="$2" status=0
  comm -12 <(defined "$p") <(defined "$a") >"$a.shared"
  local sqllm_shared
  sqllm_shared="$(sed 's/^DW\.ref\.//' "$a.shared" | c++filt | grep 'sqllm' |
    grep -Ev '^((vtable|typeinfo|typeinfo name) for )?sqllm::error(::|$)|^sqllm::to_string\(sqllm::errc\)$')"
  if [ -n "$sqllm_shared" ]; then
    echo "  sqllm symbols defined in both objects ($(echo "$sqllm_shared" | wc -l)), e.g.:"
    echo "$sqllm_shared" | head -5 | cut -c1-200 | sed 's/^/    /'
    status=1
  fi
  # The AVX object's copy of each shared function, disassembled.
  objdump -d --no-show-raw-insn "$a" |
    awk -v shared="$a.shared" -v re="$beyond_baseline" '
      BEGIN { while ((getline s < shared) > 0) want[s] = 1 }
      /^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3); next }
      fn in want && NF >= 2 { split($2, m, " "); if (m[1] ~ re && !(fn in seen)) { seen[fn] = 1; print fn "\t" m[1] } }' \
    >"$a.unsafe"
  if [ -s "$a.unsafe" ]; then
    echo "  functions defined in both objects whose copy in $a holds instructions beyond x86-64"
    echo "  (the linker may run that copy in the portable unit too; a standard-library template"
    echo "  sqllm instantiates gets a name of its own per unit from a template argument of sqllm's"
    echo "  ABI namespace, e.g. a comparator or an allocator):"
    while IFS=$'\t' read -r fn insn; do
      echo "    $(echo "$fn" | c++filt | cut -c1-180)   [$insn]"
    done <"$a.unsafe"
    status=$((status + 2))
  fi
  return $status
}

# Runs a binary under qemu with a CPU model; prints its output; returns its status.
# (without qemu's notes on CPU-model features TCG does not emulate).
emulate() {
  local cpu="$1" out rc
  shift
  out="$("$qemu" -cpu "$cpu" "$@" 2>&1)"
  rc=$?
  printf '%s\n' "$out" | grep -v "TCG doesn't support requested feature"
  return $rc
}

echo "::: $cxx $opt: portable unit (no -m flags)"
compile portable.o odr_portable.cpp || { echo "FAIL: portable unit does not compile"; exit 1; }

variants=("avx2|avx2|-mavx2 -mfma")
if echo | "$cxx" -march=x86-64-v4 -x c++ -fsyntax-only - 2>/dev/null; then
  variants+=("v4|avx512|-march=x86-64-v4")
else
  variants+=("avx512|avx512|-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512cd -mavx2 -mfma -mbmi -mbmi2 -mf16c")
fi
native_macros="$(echo | "$cxx" -march=native -dM -E -x c++ - 2>/dev/null)"
if echo "$native_macros" | grep -q '__AVX512F__'; then
  variants+=("native|avx512|-march=native")
elif echo "$native_macros" | grep -q '__AVX2__'; then
  variants+=("native|avx2|-march=native")
else
  echo "  (-march=native has no AVX2 on this machine: that variant is skipped)"
fi

for v in "${variants[@]}"; do
  IFS='|' read -r name level flags <<<"$v"
  [ -z "$only" ] || [ "$only" = "$name" ] || continue
  echo "::: AVX unit $name: $flags"
  compile "avx_$name.o" odr_avx.cpp $flags || { fail "$name: AVX unit does not compile"; continue; }
  "$cxx" portable.o "avx_$name.o" -o "pa_$name" && "$cxx" "avx_$name.o" portable.o -o "ap_$name" ||
    { fail "$name: link"; continue; }
  for bin in "pa_$name" "ap_$name"; do
    out="$("./$bin" "$level" 2>&1)"; rc=$?
    echo "$out" | sed "s/^/  [$bin, this CPU] /"
    [ $rc -eq 0 ] || fail "$bin exits $rc on this CPU"
    if [ -n "$qemu" ]; then
      out="$(emulate Nehalem "./$bin" "$level")"; rc=$?
      echo "$out" | sed "s/^/  [$bin, qemu Nehalem] /"
      [ $rc -eq 0 ] || fail "$bin exits $rc under qemu-x86_64 -cpu Nehalem (132: SIGILL)"
      echo "$out" | grep -q 'not called' || [ $rc -ne 0 ] || fail "$bin called the AVX unit on a CPU without AVX"
      if [ "$name" = avx2 ] && [ "$qemu_avx2" -eq 1 ]; then
        out="$(emulate Haswell "./$bin" "$level")"; rc=$?
        echo "$out" | sed "s/^/  [$bin, qemu Haswell] /"
        [ $rc -eq 0 ] || fail "$bin exits $rc under qemu-x86_64 -cpu Haswell"
        echo "$out" | grep -q '^AVX unit: .*kernels on avx2' || [ $rc -ne 0 ] ||
          fail "$bin under qemu Haswell: the AVX unit did not run on the avx2 target"
      fi
    fi
  done
  symbol_check portable.o "avx_$name.o"; rc=$?
  [ $((rc & 1)) -eq 0 ] || fail "$name: sqllm symbols shared between the units"
  [ $((rc & 2)) -eq 0 ] || fail "$name: the AVX unit's copy of a shared function is not baseline x86-64"
  [ $rc -eq 0 ] && echo "  symbols: no shared sqllm symbol but sqllm::error's; every shared function's AVX copy is baseline x86-64"
done

if [ $control -eq 1 ]; then
  echo "::: negative control: -mavx2 -mfma with the ISA macros undefined (same ABI namespace, AVX2 code)"
  undef="-U__SSE3__ -U__SSSE3__ -U__SSE4_1__ -U__SSE4_2__ -U__AVX__ -U__AVX2__ -U__FMA__"
  if compile avx_control.o odr_avx.cpp -mavx2 -mfma $undef; then
    "$cxx" avx_control.o portable.o -o ap_control && "$cxx" portable.o avx_control.o -o pa_control ||
      fail "control: link"
    symbol_check portable.o avx_control.o >control_symbols.log; rc=$?
    head -4 control_symbols.log
    [ $((rc & 1)) -ne 0 ] && echo "  control: the symbol check sees the collision, as it must" ||
      fail "control: the symbol check did not see the shared sqllm symbols"
    if [ -n "$qemu" ]; then
      caught=0
      for bin in ap_control pa_control; do
        out="$(emulate Nehalem "./$bin" avx2)"; rc=$?
        echo "  [$bin, qemu Nehalem] exit $rc"
        [ $rc -eq 0 ] || caught=1
      done
      [ $caught -eq 1 ] && echo "  control: a link order dies under qemu -cpu Nehalem, as it must" ||
        fail "control: neither link order failed under qemu -cpu Nehalem"
    fi
  else
    fail "control: does not compile"
  fi
fi

if [ $failures -ne 0 ]; then
  echo "odr_test.sh: $failures check(s) FAILED"
  exit 1
fi
if [ -z "$qemu" ] && [ "$skip_code" -ne 0 ]; then
  echo "odr_test.sh: SKIPPED: the checks that ran passed, but without qemu-x86_64 nothing ran on a CPU without AVX"
  exit "$skip_code"
fi
echo "odr_test.sh: all checks passed"
