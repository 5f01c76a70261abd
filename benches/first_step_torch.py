"""The PyTorch side of benches/first_step.py: ImageFolder + DataLoader (2
workers) feeding a ResNet of the shape facebench's resnet-small preset has
(one bottleneck block per stage, 16 base planes, 112 px), printing `step N`
after each optimizer step until killed.

    python3 benches/first_step_torch.py TRAIN_DIR BATCH
"""

import sys

import torch
import torch.nn as nn
import torchvision
from torchvision import transforms


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, out, 1, bias=False), nn.BatchNorm2d(out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == out
            else nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.skip(x))


def small_resnet(classes, base=16):
    layers = [
        nn.Conv2d(3, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = base
    for i in range(4):
        planes = base * 2**i
        layers.append(Bottleneck(cin, planes, 1 if i == 0 else 2))
        cin = planes * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def main():
    root, batch = sys.argv[1], int(sys.argv[2])
    transform = transforms.Compose([
        transforms.RandomResizedCrop(112, scale=(0.6, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(0.2, 0.2, 0.2),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    data = torchvision.datasets.ImageFolder(root, transform)
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, num_workers=2, drop_last=True)
    model = small_resnet(len(data.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for step, (x, y) in enumerate(loader, 1):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        print(f"step {step}", flush=True)


if __name__ == "__main__":
    main()
