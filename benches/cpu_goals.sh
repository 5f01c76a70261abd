#!/usr/bin/env bash
# The CPU goals of docs/performance.md: facebench beside PyTorch (same
# process, same inputs) for every row of the goals table. Needs a release
# build and python3 with torch, torchvision and timm.
#   cargo build --release && benches/cpu_goals.sh [STEPS] > goals.txt
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-3}
bin=./target/release/facebench
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores"
"$bin" bench --device cpu --arch resnet --sizes 64,112,224 --batch 16 --steps "$steps" --compare-pytorch
for arch in xception densenet121; do
  "$bin" bench --device cpu --arch "$arch" --sizes 96 --batch 16 --steps "$steps" --compare-pytorch
  "$bin" bench --device cpu --arch "$arch" --frozen-base --sizes 96 --batch 16 --steps "$steps" --compare-pytorch
done
