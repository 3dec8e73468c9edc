#!/usr/bin/env bash
# Installs what sqllm needs to build its tests, benchmarks and examples on
# Debian 12 / Ubuntu 22.04+, from the distribution's packages only.
# --bench adds what bench/run_kernels.sh needs for its chart (matplotlib).
set -euo pipefail
packages=(cmake ninja-build g++ clang libxsimd-dev catch2 libbenchmark-dev nlohmann-json3-dev libcli11-dev libzip-dev python3)
if [ "${1:-}" = "--bench" ]; then packages+=(python3-matplotlib); fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
