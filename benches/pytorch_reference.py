"""The PyTorch side of `facebench bench`: the same measurements with PyTorch,
torchvision and timm, on the same machine. Not used by facebench's training;
`facebench bench --compare-pytorch` runs the `model` subcommand as a subprocess
and reads the JSON object on the last line of its stdout.

    pip install torch torchvision timm pillow

    # loader: decode + augment + batch with torchvision's DataLoader
    python3 benches/pytorch_reference.py loader TRAIN_DIR [--sizes 64,112,224] [--batch 16] [--json]

    # model: train step (forward, cross-entropy, backward, AdamW) and inference
    python3 benches/pytorch_reference.py model --arch resnet50|xception|densenet121 \
        [--sizes 64,112,224] [--batch 16] [--steps 5] [--classes 100] [--frozen-base] \
        [--threads N] [--device cpu|cuda] [--precision fp32,tf32,amp] [--json]

The models match facebench's: torchvision ResNet-50 (random init, `classes`
outputs); timm `legacy_xception` and torchvision DenseNet-121 `features` (+ ReLU)
as bases, each followed by global average pooling and the reference head
BN -> Dense(1024) -> BN -> ReLU -> Dropout(0.5) -> Dense(512) -> BN -> ReLU ->
Dropout(0.5) -> Dense(classes). `--frozen-base` freezes the base (no gradients,
batch norm on running statistics, only the head's parameters in AdamW), as in
facebench's phase 1; without it everything trains (phase 2).

`--json` output, one object on the last line of stdout (progress goes to stderr):

    {"torch": "2.x", "torchvision": "0.x", "timm": "1.x" | null, "threads": N,
     "device": "cpu" | "cuda:0 (NAME)", "memory_note": "...",
     "rows": [{"arch": "resnet50", "size": 64, "batch": 16, "steps": 5,
               "mode": "train" | "inference", "frozen_base": false,
               "precision": "fp32" | "tf32" | "amp", "images_per_sec": 12.3,
               "peak_bytes": 123456789 | null,
               "params": 23712932, "trainable_params": 23712932}]}

peak_bytes is for the train rows only (warm-up + timed steps): on CPU the rise of
VmHWM over the VmRSS just before the warm-up step (the peak is reset through
/proc/self/clear_refs); on CUDA torch.cuda.max_memory_allocated() minus
torch.cuda.memory_allocated() just before the warm-up step. The loader subcommand
prints rows {"what", "size", "batch", "workers", "images_per_sec"}.

Exit status: 0 done; 2 bad arguments (e.g. --frozen-base with resnet50);
3 a missing dependency or device (torch, timm, CUDA).
"""
import argparse
import gc
import json
import os
import sys
import time

try:
    import torch
    import torchvision
except ImportError:
    print("torch is not installed; pip install torch torchvision timm", file=sys.stderr)
    sys.exit(3)

from torch import nn

ARCHS = ("resnet50", "xception", "densenet121")
PRECISIONS = ("fp32", "tf32", "amp")


def fail(msg, code=3):
    print("pytorch_reference.py: " + msg, file=sys.stderr)
    sys.exit(code)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes must be comma-separated integers, got %r" % text)
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive integers, got %r" % text)
    return sizes


def positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be >= 1, got %s" % text)
    return v


# ---------------------------------------------------------------- loader


def bench_loader(root, sizes, batch):
    from torchvision import transforms

    workers = os.cpu_count()
    rows = []
    for size in sizes:
        tf = transforms.Compose([
            transforms.RandomResizedCrop(size, scale=(0.08, 1.0)),
            transforms.RandomHorizontalFlip(),
            transforms.ColorJitter(0.2, 0.2, 0.2),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ])
        ds = torchvision.datasets.ImageFolder(root, transform=tf)
        loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
        start = time.perf_counter()
        n = sum(x.shape[0] for x, _ in loader)
        rows.append({
            "what": "decode + augment + batch (DataLoader, %d workers)" % workers,
            "size": size,
            "batch": batch,
            "workers": workers,
            "images_per_sec": n / (time.perf_counter() - start),
        })
    return rows


def cmd_loader(args):
    rows = bench_loader(args.train_dir, args.sizes, args.batch)
    if args.json:
        print(json.dumps({
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "rows": rows,
        }))
        return
    print("torch %s, torchvision %s" % (torch.__version__, torchvision.__version__))
    print("| benchmark | px | images/s | notes |")
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %d | %.1f | batch %d |" % (r["what"], r["size"], r["images_per_sec"], r["batch"]))


# ---------------------------------------------------------------- models


def timm_or_none():
    try:
        import timm
        return timm
    except ImportError:
        return None


def reference_head(features, classes, dropout=0.5):
    """facebench's head (model/transfer.rs) with Keras' initialisation: glorot-uniform
    kernels, zero biases, batch norm epsilon 1e-3 and momentum 0.99 (0.01 in torch)."""
    bn = lambda c: nn.BatchNorm1d(c, eps=1e-3, momentum=0.01)
    head = nn.Sequential(
        bn(features),
        nn.Linear(features, 1024),
        bn(1024),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1024, 512),
        bn(512),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(512, classes),
    )
    for m in head:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return head


class TransferNet(nn.Module):
    """A base mapping images to pooled features [N, F], then the reference head.
    With frozen=True the base stays in eval mode whatever .train() is called with."""

    def __init__(self, base, features, classes, frozen):
        super().__init__()
        self.base = base
        self.head = reference_head(features, classes)
        self.frozen = frozen
        if frozen:
            for p in self.base.parameters():
                p.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if self.frozen:
            self.base.eval()
        return self

    def forward(self, x):
        return self.head(self.base(x))


def build_model(arch, classes, frozen, timm):
    if arch == "resnet50":
        return torchvision.models.resnet50(weights=None, num_classes=classes)
    if arch == "xception":
        if timm is None:
            fail("timm is not installed; --arch xception uses timm's legacy_xception: pip install timm")
        try:
            # num_classes=0: the classifier is dropped, forward() returns the
            # globally average-pooled 2048 features (after the final ReLU)
            base = timm.create_model("legacy_xception", pretrained=False, num_classes=0)
        except RuntimeError as e:
            fail("timm %s has no legacy_xception (%s); pip install -U timm" % (timm.__version__, e))
        return TransferNet(base, base.num_features, classes, frozen)
    if arch == "densenet121":
        base = nn.Sequential(
            torchvision.models.densenet121(weights=None).features,  # ends with norm5
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        return TransferNet(base, 1024, classes, frozen)
    raise ValueError(arch)


# ---------------------------------------------------------------- memory


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise OSError("no %s in /proc/self/status" % field)


def _release_freed_memory():
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass


class CpuPeak:
    """Peak resident memory of a stretch of code: VmHWM after, minus VmRSS before,
    with the high-water mark reset in between through /proc/self/clear_refs."""

    method = None  # "clear_refs" or "ru_maxrss", decided on first use

    def start(self):
        _release_freed_memory()
        try:
            self.baseline = _status_bytes("VmRSS")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
            if CpuPeak.method is None:
                CpuPeak.method = "clear_refs"
        except OSError:
            CpuPeak.method = "ru_maxrss"
            self.baseline = _rss_fallback()

    def peak_bytes(self):
        if CpuPeak.method == "clear_refs":
            return max(0, _status_bytes("VmHWM") - self.baseline)
        import resource
        return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.baseline)


def _rss_fallback():
    try:
        return _status_bytes("VmRSS")
    except OSError:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class CudaPeak:
    def __init__(self, device):
        self.device = device

    def start(self):
        gc.collect()
        torch.cuda.synchronize(self.device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)
        self.baseline = torch.cuda.memory_allocated(self.device)

    def peak_bytes(self):
        torch.cuda.synchronize(self.device)
        return max(0, torch.cuda.max_memory_allocated(self.device) - self.baseline)


# ---------------------------------------------------------------- one row pair


def set_precision(device, precision):
    if device.type != "cuda":
        return
    tf32 = precision in ("tf32", "amp")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def bench_one(args, timm, device, size, precision):
    """Train rows then inference rows for one (size, precision), on a fresh model."""
    cuda = device.type == "cuda"
    set_precision(device, precision)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def autocast():
        if precision == "amp":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast(device.type, enabled=False)

    model = build_model(args.arch, args.classes, args.frozen_base, timm).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    params = sum(p.numel() for p in model.parameters())
    trainable_params = sum(p.numel() for p in trainable)
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(args.batch, 3, size, size, device=device)
    y = (torch.arange(args.batch) % args.classes).to(device)

    def step():
        opt.zero_grad()
        with autocast():
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    common = {
        "arch": args.arch,
        "size": size,
        "batch": args.batch,
        "steps": args.steps,
        "frozen_base": bool(args.frozen_base),
        "precision": precision,
        "params": params,
        "trainable_params": trainable_params,
    }
    rows = []

    model.train()  # TransferNet keeps a frozen base in eval mode
    peak = CudaPeak(device) if cuda else CpuPeak()
    peak.start()
    step()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    elapsed = time.perf_counter() - start
    rows.append(dict(common, mode="train", images_per_sec=args.steps * args.batch / elapsed,
                     peak_bytes=peak.peak_bytes()))

    model.eval()
    with torch.inference_mode():
        with autocast():
            model(x)  # warm-up
        sync()
        start = time.perf_counter()
        for _ in range(args.steps):
            with autocast():
                model(x)
        sync()
        elapsed = time.perf_counter() - start
    rows.append(dict(common, mode="inference", images_per_sec=args.steps * args.batch / elapsed,
                     peak_bytes=None))

    del model, opt, x, y, trainable
    _release_freed_memory()
    if cuda:
        torch.cuda.empty_cache()
    return rows


def cmd_model(ap, args):
    if args.frozen_base and args.arch == "resnet50":
        ap.error("--frozen-base applies to xception and densenet121 only")
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    timm = timm_or_none()
    if args.arch == "xception" and timm is None:
        fail("timm is not installed; --arch xception uses timm's legacy_xception: pip install timm")

    if args.device == "cuda":
        if not torch.cuda.is_available():
            fail("--device cuda, but torch %s sees no CUDA device (torch.cuda.is_available() is False)"
                 % torch.__version__)
        device = torch.device("cuda", torch.cuda.current_device())
        device_name = "cuda:%d (%s)" % (device.index, torch.cuda.get_device_name(device))
        torch.backends.cudnn.benchmark = True
        precisions = args.precision or list(PRECISIONS)
        memory_note = ("train rows: torch.cuda.max_memory_allocated() minus memory_allocated() "
                       "before the warm-up step (tensors only, not the caching allocator's reserve)")
    else:
        device = torch.device("cpu")
        device_name = "cpu"
        precisions = ["fp32"]
        dropped = [p for p in (args.precision or []) if p != "fp32"]
        if dropped:
            log("pytorch_reference.py: --device cpu measures fp32 only; ignoring %s" % ",".join(dropped))
        memory_note = None

    rows = []
    for size in args.sizes:
        for precision in precisions:
            log("%s %dpx %s%s ..." % (args.arch, size, precision, " frozen base" if args.frozen_base else ""))
            rows.extend(bench_one(args, timm, device, size, precision))

    if device.type == "cpu":
        if CpuPeak.method == "clear_refs":
            memory_note = ("train rows: VmHWM minus VmRSS before the warm-up step, "
                           "peak reset through /proc/self/clear_refs")
        else:
            memory_note = ("/proc/self/clear_refs could not be written, so the peak could not be reset: "
                           "train rows are getrusage ru_maxrss (the process' lifetime peak) minus VmRSS "
                           "before the warm-up step; rows after the first may be too low")

    out = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__ if timm is not None else None,
        "threads": torch.get_num_threads(),
        "device": device_name,
        "memory_note": memory_note,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(out), flush=True)
        return
    print("torch %s, torchvision %s, timm %s, %d threads, %s" % (
        out["torch"], out["torchvision"], out["timm"], out["threads"], out["device"]))
    print("| benchmark | px | precision | images/s | peak MiB | notes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        what = "%s %s (PyTorch%s)" % (
            "train step" if r["mode"] == "train" else "inference",
            r["arch"], ", frozen base" if r["frozen_base"] else "")
        peak = "-" if r["peak_bytes"] is None else "%.0f" % (r["peak_bytes"] / 2 ** 20)
        print("| %s | %d | %s | %.1f | %s | batch %d, %d steps, %.1f M params (%.1f M trained) |" % (
            what, r["size"], r["precision"], r["images_per_sec"], peak, r["batch"], r["steps"],
            r["params"] / 1e6, r["trainable_params"] / 1e6))
    if memory_note:
        print()
        print("peak MiB: " + memory_note)


def parse_precisions(text):
    ps = [p.strip() for p in text.split(",") if p.strip()]
    bad = [p for p in ps if p not in PRECISIONS]
    if bad or not ps:
        raise argparse.ArgumentTypeError("precision must be a comma-separated subset of %s, got %r"
                                         % (",".join(PRECISIONS), text))
    return list(dict.fromkeys(ps))


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference numbers for `facebench bench`.")
    sub = ap.add_subparsers(dest="command", required=True)

    lp = sub.add_parser("loader", help="decode + augment + batch with a torchvision DataLoader")
    lp.add_argument("train_dir", help="an ImageFolder: one folder of images per class")
    lp.add_argument("--sizes", type=parse_sizes, default=[64, 112, 224])
    lp.add_argument("--batch", type=positive_int, default=16)
    lp.add_argument("--json", action="store_true", help="one JSON object on the last line of stdout")

    mp = sub.add_parser("model", help="train step and inference throughput, train-step peak memory")
    mp.add_argument("--arch", choices=ARCHS, required=True)
    mp.add_argument("--sizes", type=parse_sizes, default=[64, 112, 224])
    mp.add_argument("--batch", type=positive_int, default=16)
    mp.add_argument("--steps", type=positive_int, default=5)
    mp.add_argument("--classes", type=positive_int, default=100)
    mp.add_argument("--frozen-base", action="store_true",
                    help="xception/densenet121: train the head only, base in eval mode")
    mp.add_argument("--threads", type=positive_int, default=None,
                    help="torch.set_num_threads (default: torch's own choice)")
    mp.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    mp.add_argument("--precision", type=parse_precisions, default=None,
                    help="cuda: comma-separated subset of fp32,tf32,amp (default all); cpu: fp32 only")
    mp.add_argument("--json", action="store_true", help="one JSON object on the last line of stdout")

    args = ap.parse_args()
    if args.command == "loader":
        cmd_loader(args)
    else:
        cmd_model(mp, args)


if __name__ == "__main__":
    main()
