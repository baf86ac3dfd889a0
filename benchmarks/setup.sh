#!/usr/bin/env bash
# What the benchmarks need beyond the zoo: CPU PyTorch (the tutorial's PyTorch code) and
# Fashion-MNIST (time to accuracy), both from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "torch==2.13.0" "tabulate>=0.9,<1"  # torch: a CPU build of 2.13.0
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null || {
      apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
  else
    echo "Install Debian's dataset-fashion-mnist (as root) for the Fashion-MNIST benchmark." >&2
  fi
fi
if [ -d /usr/share/datasets/fashion-mnist ]; then
  dest="${KERAS_HOME:-$HOME/.keras}/datasets/fashion-mnist"
  mkdir -p "$dest" && cp -n /usr/share/datasets/fashion-mnist/*.gz "$dest"/
fi
echo "benchmark setup done"
