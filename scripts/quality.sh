#!/usr/bin/env bash
# One command for docs/quality.{md,json,png}: installs what is missing
# (matplotlib for the chart), builds sqllm-quantize and the llama2c example
# in Release, and runs scripts/quality.py (about a minute).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh --bench
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target sqllm-quantize llama2c
# Debian's interpreter: it has python3-matplotlib (a pyenv python3 may not).
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
"$py" scripts/quality.py --build build "$@"
