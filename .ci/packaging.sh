#!/usr/bin/env bash
# CI's packaging step: the Conan 2 recipe tested for real, offline, then the static checks.
#
#   1. Conan 2 from PyPI, in a virtual environment under the build directory (Debian 12's
#      system Python refuses `pip install` without --break-system-packages; a venv needs no
#      such flag and leaves the system alone). A conan 2 already on PATH is used as is.
#   2. A CONAN_HOME of its own under the build directory, with no remote at all: nothing can
#      come from ConanCenter. xsimd and nlohmann_json are the system's (Debian 12's
#      libxsimd-dev and nlohmann-json3-dev) through conan/profiles/system's [platform_requires].
#   3. `conan create` of the recipe with test_package/ for the core (sqllm::sqllm) and with
#      -o "&:with_io=True" (sqllm::io). test_package is built from a copy under the build
#      directory, so nothing is written into the checkout.
#   4. .ci/check_packaging.py: one version everywhere, the vcpkg manifest and port.
#
# Usage: .ci/packaging.sh [build-dir]   (default build-ci-packaging). About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-build-ci-packaging}
mkdir -p "$work"
work=$(cd "$work" && pwd)
start=$SECONDS
step() { echo "::: packaging: $* ($((SECONDS - start)) s so far)"; }

step "Conan 2 client"
conan=""
if command -v conan >/dev/null 2>&1 && conan --version 2>/dev/null | grep -q "^Conan version 2\."; then
  conan=$(command -v conan)
elif [ -x "$work/venv/bin/conan" ]; then
  conan="$work/venv/bin/conan"
else
  if python3 -m venv "$work/venv" >/dev/null 2>&1; then
    "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "conan>=2.0,<3"
    conan="$work/venv/bin/conan"
  else  # no venv module (Debian without python3-venv): a private prefix, outside the system's
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
      --prefix "$work/pip" "conan>=2.0,<3"
    pythonpath=$(echo "$work"/pip/lib/python3*/site-packages)
    printf '#!/bin/sh\nPYTHONPATH="%s${PYTHONPATH:+:$PYTHONPATH}" exec "%s/pip/bin/conan" "$@"\n' \
      "$pythonpath" "$work" > "$work/conan"
    chmod +x "$work/conan"
    conan="$work/conan"
  fi
fi
"$conan" --version

export CONAN_HOME="$work/conan-home"
rm -rf "$CONAN_HOME"
"$conan" profile detect >/dev/null 2>&1
for remote in $("$conan" remote list --format=json | python3 -c 'import json, sys; print(" ".join(r["name"] for r in json.load(sys.stdin)))'); do
  "$conan" remote remove "$remote" >/dev/null
done

rm -rf "$work/test_package"
cp -r "$root/test_package" "$work/test_package"
create() {
  "$conan" create "$root" -pr:a "$root/conan/profiles/system" -tf "$work/test_package" "$@" \
    > "$work/conan-create.log" 2>&1 || { cat "$work/conan-create.log"; echo "conan create $* failed" >&2; exit 1; }
  grep -E "test_package \(" "$work/conan-create.log"
}
step "conan create (sqllm::sqllm), offline"
create
step "conan create -o \"&:with_io=True\" (sqllm::sqllm, sqllm::io), offline"
create -o "&:with_io=True"

step "check_packaging.py"
check_start=$SECONDS
python3 "$root/.ci/check_packaging.py" --conan "$conan" | grep -v "^-- Installing"
echo "check_packaging.py: $((SECONDS - check_start)) s"
step "done"
