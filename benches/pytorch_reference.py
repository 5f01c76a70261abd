"""The PyTorch side of `facebench bench`: the same measurements with torchvision's
ResNet-50 and transforms, on the same machine. Not used by facebench itself.

    pip install torch torchvision pillow
    python3 benches/pytorch_reference.py [DATASET_TRAIN_DIR] [--sizes 64,112,224] [--batch 16] [--steps 5]
"""
import argparse
import os
import time

import torch
import torchvision
from torchvision import transforms


def bench_loader(root, sizes, batch):
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
        loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=os.cpu_count())
        start = time.perf_counter()
        n = sum(x.shape[0] for x, _ in loader)
        rows.append(("decode + augment + batch (DataLoader, %d workers)" % os.cpu_count(), size,
                     n / (time.perf_counter() - start), "batch %d" % batch))
    return rows


def bench_model(sizes, batch, steps):
    rows = []
    for size in sizes:
        model = torchvision.models.resnet50(num_classes=100)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        loss_fn = torch.nn.CrossEntropyLoss()
        x = torch.rand(batch, 3, size, size)
        y = torch.arange(batch) % 100

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        model.train()
        step()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rows.append(("train step ResNet-50 (PyTorch)", size, steps * batch / (time.perf_counter() - start),
                     "batch %d, %d steps, %d threads" % (batch, steps, torch.get_num_threads())))
        model.eval()
        with torch.no_grad():
            model(x)
            start = time.perf_counter()
            for _ in range(steps):
                model(x)
        rows.append(("inference ResNet-50 (PyTorch)", size, steps * batch / (time.perf_counter() - start),
                     "batch %d" % batch))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("train_dir", nargs="?")
    ap.add_argument("--sizes", default="64,112,224")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = bench_loader(args.train_dir, sizes, args.batch) if args.train_dir else []
    rows += bench_model(sizes, args.batch, args.steps)
    print("torch %s, torchvision %s" % (torch.__version__, torchvision.__version__))
    print("| benchmark | px | images/s | notes |")
    print("|---|---|---|---|")
    for what, size, rate, note in rows:
        print("| %s | %d | %.1f | %s |" % (what, size, rate, note))


if __name__ == "__main__":
    main()
