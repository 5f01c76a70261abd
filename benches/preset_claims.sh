#!/usr/bin/env bash
# Re-measures the accuracy and time claims that README.md and docs/ make for
# the CPU presets: trains each preset N times (default 3) on its dataset with
# the release build and prints test accuracy, epochs and training seconds per
# run (from the run's Finished event), plus the wall time of the process.
#
#   cargo build --release
#   benches/preset_claims.sh [N] [orl|celeb23|xception|all]
#
# xception (not in "all": about 6-10 minutes a run) fine-tunes Xception from
# the ImageNet weights in $FACEBENCH_SHARED/weights on celeb23
# (presets/xception-finetune-cpu.json, docs/results.md).
#
# Run it on a quiet machine: times are wall-clock.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-3}
WHICH=${2:-all}
FACEBENCH=${FACEBENCH:-${CARGO_TARGET_DIR:-target}/release/facebench}
SHARED=${FACEBENCH_SHARED:-../shared}
OUT=${OUT:-$(mktemp -d /tmp/preset-claims.XXXXXX)}
mkdir -p "$OUT"
[ -x "$FACEBENCH" ] || { echo "no binary at $FACEBENCH: cargo build --release" >&2; exit 1; }

measure() { # name preset data
    local name=$1 preset=$2 data=$3
    for i in $(seq 1 "$N"); do
        local runs="$OUT/${name//\//-}-$i"
        local t0=$(date +%s.%N)
        "$FACEBENCH" train --json --device cpu --data "$data" --preset "$preset" --runs "$runs" > "$runs.jsonl"
        local t1=$(date +%s.%N)
        python3 - "$runs.jsonl" "$name" "$i" "$t0" "$t1" <<'PY'
import json, sys
path, name, i, t0, t1 = sys.argv[1:]
fin = [json.loads(l) for l in open(path) if '"finished"' in l][-1]
ev = [json.loads(l) for l in open(path) if '"evaluated"' in l][-1]
print(f"{name:<22} run {i}: test acc {fin['test_accuracy']*100:5.1f}%  macro F1 {ev['macro_f1']:.3f}  "
      f"epochs {fin['epochs_completed']:>2} ({fin['status']})  train {fin['seconds']:6.1f} s  wall {float(t1)-float(t0):6.1f} s")
PY
    done
}

echo "== $(date -u +%F) $(nproc) cores, $("$FACEBENCH" --version 2>/dev/null || echo facebench)"
if [ "$WHICH" = orl ] || [ "$WHICH" = all ]; then
    measure resnet-tiny-cpu/orl40 presets/resnet-tiny-cpu.json "$SHARED/datasets/orl40"
fi
if [ "$WHICH" = celeb23 ] || [ "$WHICH" = all ]; then
    measure resnet-small/celeb23 presets/resnet-small-celeb23-cpu.json "$SHARED/datasets/celeb23"
fi
if [ "$WHICH" = xception ]; then
    FACEBENCH_WEIGHTS_DIR="$SHARED/weights" \
        measure xception-finetune/celeb23 presets/xception-finetune-cpu.json "$SHARED/datasets/celeb23"
fi
echo "runs in $OUT"
