"""Memory and time to the first training step as the dataset grows (issue 26),
facebench beside PyTorch's ImageFolder + DataLoader on the same folders.

Builds `celeb23 x K` datasets from ../shared/datasets/celeb23 by hard links
(the train split K times over, val and test once; no extra disk for the
JPEGs), then for each K measures, each in a fresh process:

  facebench, cache off   FACEBENCH_IMAGE_CACHE=off: every face decoded into
                         memory before the first step (the build before the cache)
  facebench, 1st run     an empty cache folder: the cache is built, then read
  facebench, 2nd run     the same cache folder again: the cache is opened
  pytorch                ImageFolder + DataLoader(num_workers=2), same sizes

For each: seconds from launch to the first training step's end (facebench:
its first `iteration` event; PyTorch: its first optimizer step), peak
resident memory of the process tree by then and after STEPS more steps
(sum of VmHWM over the process and its children, so DataLoader workers
count), and images/s over those steps. The model is the same tiny ResNet
on both sides so the loader, not the network, is what differs.

    cargo build --release
    python3 benches/first_step.py --copies 10,50,100 [--steps 20]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("FACEBENCH_SHARED", REPO.parent / "shared"))
CELEB = SHARED / "datasets" / "celeb23"


def make_dataset(root: Path, copies: int) -> Path:
    out = root / f"celeb23x{copies}"
    if (out / ".complete").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    for split in ("train", "val", "test"):
        for person in sorted((CELEB / split).iterdir()):
            dest = out / split / person.name
            dest.mkdir(parents=True)
            for face in sorted(person.iterdir()):
                for k in range(copies if split == "train" else 1):
                    os.link(face, dest / f"{k:03d}_{face.name}")
    (out / ".complete").write_text("")
    return out


def tree_hwm_kib(pid: int) -> int:
    """VmHWM of `pid` plus that of its living children, in KiB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def watch(cmd, env, steps: int, is_step) -> dict:
    """Run `cmd`, read its stdout lines; return times and memory at the
    first step and after `steps` more, then stop it."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first = None
    seen = 0
    peak = 0
    result = {}
    for line in proc.stdout:
        peak = max(peak, tree_hwm_kib(proc.pid))
        images = is_step(line)
        if images is None:
            continue
        now = time.monotonic()
        if first is None:
            first = now
            result["first_step_s"] = now - start
            result["first_step_mib"] = tree_hwm_kib(proc.pid) / 1024
            counted = 0
        else:
            seen += 1
            counted += images
            if seen >= steps:
                result["images_per_s"] = counted / (now - first)
                result["after_steps_mib"] = tree_hwm_kib(proc.pid) / 1024
                break
    proc.kill()
    proc.wait()
    if "first_step_s" not in result:
        raise SystemExit(f"{cmd[0]} ended before its first step")
    return result


def facebench(binary: str, data: Path, cache: Path, steps: int, batch: int, off: bool) -> dict:
    env = dict(os.environ, FACEBENCH_CACHE_DIR=str(cache))
    if off:
        env["FACEBENCH_IMAGE_CACHE"] = "off"
    runs = Path(tempfile.mkdtemp(prefix="fs-runs-"))
    cmd = [
        binary, "train", "--json", "--device", "cpu", "--data", str(data), "--runs", str(runs),
        "--preset", str(REPO / "presets" / "resnet-small-celeb23-cpu.json"),
        "--set", "data.input_size=112", "--set", f"train.batch_size={batch}",
        "--set", "data.normalization=torch_imagenet", "--set", "train.epochs=1",
    ]

    def is_step(line):
        try:
            ev = json.loads(line)
        except ValueError:
            return None
        return batch if ev.get("event") == "iteration" else None

    try:
        return watch(cmd, env, steps, is_step)
    finally:
        shutil.rmtree(runs, ignore_errors=True)


def pytorch(data: Path, steps: int, batch: int) -> dict:
    cmd = [sys.executable, str(HERE / "first_step_torch.py"), str(data / "train"), str(batch)]

    def is_step(line):
        return batch if line.startswith("step") else None

    return watch(cmd, dict(os.environ), steps, is_step)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", default="10,50,100")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--work", default="/tmp/facebench-first-step")
    ap.add_argument("--facebench", default=str(REPO / "target" / "release" / "facebench"))
    ap.add_argument("--skip-pytorch", action="store_true")
    ap.add_argument(
        "--off-up-to", type=int, default=10**9,
        help="measure 'cache off' only up to this many train faces (it holds them all in memory)",
    )
    args = ap.parse_args()
    if not CELEB.is_dir():
        raise SystemExit(f"{CELEB} is missing: this benchmark copies celeb23 (see README, Tests)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    print(f"== {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, {os.cpu_count()} cores")
    print("| train faces | what | first step (s) | peak MiB at first step | peak MiB after steps | images/s |")
    print("|---|---|---|---|---|---|")
    for copies in [int(c) for c in args.copies.split(",")]:
        data = make_dataset(work, copies)
        faces = sum(1 for _ in (data / "train").rglob("*.jpg"))
        cache = work / f"cache-x{copies}"
        shutil.rmtree(cache, ignore_errors=True)
        rows = []
        if faces <= args.off_up_to:
            rows.append(("facebench, cache off", lambda: facebench(args.facebench, data, cache, args.steps, args.batch, True)))
        rows += [
            ("facebench, 1st run (builds the cache)", lambda: facebench(args.facebench, data, cache, args.steps, args.batch, False)),
            ("facebench, 2nd run (opens it)", lambda: facebench(args.facebench, data, cache, args.steps, args.batch, False)),
        ]
        if not args.skip_pytorch:
            rows.append(("PyTorch ImageFolder + DataLoader (2 workers)", lambda: pytorch(data, args.steps, args.batch)))
        for what, run in rows:
            r = run()
            print(
                f"| {faces:,} | {what} | {r['first_step_s']:.1f} | {r['first_step_mib']:.0f} | "
                f"{r.get('after_steps_mib', float('nan')):.0f} | {r.get('images_per_s', float('nan')):.0f} |",
                flush=True,
            )
        size = sum(f.stat().st_size for f in cache.rglob("*.fbpack"))
        print(f"|  | cache on disk: {size / 2**20:,.0f} MiB |  |  |  |  |", flush=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
