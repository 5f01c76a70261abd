#!/usr/bin/env bash
# Training throughput with the workbench window open vs the CLI, same preset,
# same data, runs interleaved (CLI, window, CLI, window, ...). Throughput is
# read from each run's metrics.jsonl (images/s per epoch), not wall time. For
# the window it also samples /proc for the CPU time of the UI (main) thread,
# the software renderer's threads (llvmpipe) and the whole process.
#
#   cargo build --release
#   benches/window_vs_cli.sh [PAIRS]            # default 2 pairs
#
# Environment: FACEBENCH (binary; default $CARGO_TARGET_DIR/release/facebench
# or target/release/facebench), DATA (default ../shared/datasets/orl40),
# PRESET (default presets/resnet-tiny-cpu.json), TAB (the tab the window
# shows while training: training | results | runs | dataset; default
# training), OUT (default a new temp folder), DISPLAY (default :99; an Xvfb is
# started on it when none answers). A timing run starts only when no rustc or
# cargo is running, and a run during which one started is done again (other
# builds on a shared machine would skew it).
set -euo pipefail

cd "$(dirname "$0")/.."
PAIRS=${1:-2}
FACEBENCH=${FACEBENCH:-${CARGO_TARGET_DIR:-target}/release/facebench}
DATA=${DATA:-../shared/datasets/orl40}
PRESET=${PRESET:-presets/resnet-tiny-cpu.json}
TAB=${TAB:-training}
OUT=${OUT:-$(mktemp -d /tmp/window-vs-cli.XXXXXX)}
export DISPLAY=${DISPLAY:-:99}
mkdir -p "$OUT"

[ -x "$FACEBENCH" ] || { echo "no binary at $FACEBENCH: cargo build --release" >&2; exit 1; }
[ -d "$DATA" ] || { echo "no dataset at $DATA" >&2; exit 1; }

if ! xdpyinfo >/dev/null 2>&1 && ! xdotool getdisplaygeometry >/dev/null 2>&1; then
    Xvfb "$DISPLAY" -screen 0 1600x1000x24 -noreset >"$OUT/xvfb.log" 2>&1 &
    XVFB=$!
    trap 'kill $XVFB 2>/dev/null || true' EXIT
    sleep 2
fi

# the window's saved state (size, tab, dataset) stays out of the user's
export XDG_DATA_HOME="$OUT/xdg-data"
mkdir -p "$XDG_DATA_HOME"

wait_idle() {
    local waited=0
    while pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; do
        if [ $((waited % 60)) -eq 0 ]; then echo "  (waiting for builds to finish)"; fi
        sleep 5
        waited=$((waited + 5))
    done
}

# Sample every thread of PID once a second until it exits; write the last
# sample (tid, name, utime+stime ticks) and the wall time to $2.
sample_threads() {
    python3 - "$1" "$2" <<'PY'
import os, sys, time
pid, out = sys.argv[1], sys.argv[2]
t0 = time.time()
last = {}
wall = 0.0
while os.path.exists(f"/proc/{pid}"):
    snap = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1 : s.rindex(")")]
            fields = s[s.rindex(")") + 2 :].split()
            snap[tid] = (name, int(fields[11]) + int(fields[12]))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        if s[s.rindex(")") + 2 :].split()[0] == "Z":
            break
    except FileNotFoundError:
        break
    # threads that ended keep their last count
    last.update(snap)
    wall = time.time() - t0
    time.sleep(1.0)
with open(out, "w") as f:
    f.write(f"wall {wall:.1f}\n")
    for tid, (name, ticks) in sorted(last.items(), key=lambda x: int(x[0])):
        f.write(f"{tid}\t{name}\t{ticks}\n")
PY
}

run_cli() {
    local dir=$1
    "$FACEBENCH" train --data "$DATA" --preset "$PRESET" --runs "$dir" --json >"$dir.log" 2>&1
}

run_window() {
    local dir=$1
    "$FACEBENCH" gui --data "$DATA" --preset "$PRESET" --runs "$dir" \
        --train --exit-when-done --tab "$TAB" >"$dir.log" 2>&1 &
    local pid=$!
    sample_threads "$pid" "$dir.threads"
    wait "$pid"
    echo "$pid" >"$dir.pid"
}

# Note, every 2 s while $1 runs, whether a build (rustc, cargo) is running.
watch_builds() {
    local pid=$1 log=$2
    : >"$log"
    while kill -0 "$pid" 2>/dev/null; do
        if pgrep -x rustc >/dev/null || pgrep -x cargo >/dev/null; then date +%T >>"$log"; fi
        sleep 2
    done
}

# Run one timing run; a build that started during it spoils it: run it again
# (up to 3 tries; the last try is kept and flagged in the table).
timed() {
    local kind=$1 dir=$2
    for try in 1 2 3; do
        rm -rf "$dir"
        wait_idle
        echo "$(basename "$dir"): $kind, try $try"
        "run_$kind" "$dir" &
        local runner=$!
        watch_builds "$runner" "$dir.builds"
        wait "$runner" || echo "  (exited with $?; see $dir.log)"
        if [ ! -s "$dir.builds" ]; then return; fi
        echo "  a build ran during it ($(wc -l <"$dir.builds") samples)"
    done
}

for i in $(seq 1 "$PAIRS"); do
    timed cli "$OUT/cli-$i"
    timed window "$OUT/window-$i"
done

python3 - "$OUT" "$PAIRS" <<'PY'
import glob, json, os, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
TICK = os.sysconf("SC_CLK_TCK")

def epochs(runs_dir):
    m = glob.glob(f"{runs_dir}/*/metrics.jsonl")
    if not m:
        return []
    ev = [json.loads(l) for l in open(m[0]) if l.strip()]
    return [e for e in ev if e.get("event") == "epoch"]

def threads(path):
    lines = open(path).read().split("\n")
    wall = float(lines[0].split()[1])
    rows = [l.split("\t") for l in lines[1:] if l]
    return wall, [(int(t), n, int(k)) for t, n, k in rows]

print(f"| run | epochs | images/s (mean of epochs) | images/s (epochs 2+) | train s (sum of epochs) |")
print("|---|---|---|---|---|")
res = {"cli": [], "window": []}
for i in range(1, pairs + 1):
    for kind in ("cli", "window"):
        ep = epochs(f"{out}/{kind}-{i}")
        if not ep:
            print(f"| {kind} {i} | no epochs (see {out}/{kind}-{i}.log) | | | |")
            continue
        rates = [e["images_per_sec"] for e in ep]
        later = rates[1:] or rates
        secs = sum(e["seconds"] for e in ep)
        b = f"{out}/{kind}-{i}.builds"
        builds = len(open(b).read().split()) if os.path.exists(b) else 0
        flag = f" (a build ran during {2 * builds} s of it)" if builds else ""
        res[kind].append((statistics.mean(rates), statistics.mean(later), secs, builds))
        print(f"| {kind} {i}{flag} | {len(ep)} | {statistics.mean(rates):.1f} | {statistics.mean(later):.1f} | {secs:.1f} |")
def ratio(which, runs):
    c = [r for r in runs["cli"]]
    w = [r for r in runs["window"]]
    if not c or not w:
        print(f"\nwindow / CLI throughput ({which}): no runs")
        return
    cm, wm = statistics.mean(r[0] for r in c), statistics.mean(r[0] for r in w)
    c2, w2 = statistics.mean(r[1] for r in c), statistics.mean(r[1] for r in w)
    print(f"\nwindow / CLI throughput ({which}: {len(c)} CLI, {len(w)} window runs): "
          f"{cm:.1f} vs {wm:.1f} images/s = {100 * wm / cm:.1f}% (all epochs), "
          f"{100 * w2 / c2:.1f}% (epochs 2+)")
ratio("runs with no build beside them", {k: [r for r in v if r[3] == 0] for k, v in res.items()})
ratio("all runs", res)

print("\n| window run | wall s | UI thread CPU | renderer (llvmpipe) CPU | whole process CPU |")
print("|---|---|---|---|---|")
for i in range(1, pairs + 1):
    p = f"{out}/window-{i}.threads"
    if not os.path.exists(p):
        continue
    wall, rows = threads(p)
    main = rows[0][2] if rows else 0  # the lowest tid is the main (UI) thread
    llvm = sum(k for _, n, k in rows if n.startswith("llvmpipe"))
    total = sum(k for _, _, k in rows)
    pct = lambda ticks: f"{100 * ticks / TICK / wall:.1f}% of a core"
    print(f"| window {i} | {wall:.0f} | {pct(main)} | {pct(llvm)} | {pct(total)} |")
print(f"\n(raw logs in {out})")
PY
