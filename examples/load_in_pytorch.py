#!/usr/bin/env python3
"""Load a facebench export into PyTorch and use it.

    facebench export RUN --format safetensors        # or --format pth
    python3 examples/load_in_pytorch.py RUN/export/model.json [FACE.jpg ...]

The sidecar (model.json) names the weights file, the architecture, the class
names and the preprocessing. This script rebuilds the network with the
layouts the keys follow:

- resnet: torchvision's Bottleneck blocks, at the run's depths and width
  (torchvision's resnet50 itself when depths are 3,4,6,3 and base_planes 64);
- densenet121: torchvision's densenet121 `.features`, then facebench's head;
- xception: timm's legacy_xception (num_classes=0), then facebench's head.
  Its max pools are replaced by TensorFlow-style "same" pools, and its batch
  norms take Keras' epsilon: facebench's Xception is Keras', and timm's pads
  symmetrically, which differs whenever a pooled side is even.

It loads the weights strictly (only torchvision's num_batches_tracked
counters may be missing), then prints each face's top 5.

--compare FILE takes a JSON {"shape": [n, 3, s, s], "input": [...],
"logits": [...]} and checks that the network's logits on that input equal
FILE's within --tolerance (default 1e-4); facebench's test writes such a file.

Needs torch (and torchvision, timm and safetensors for the layouts that use
them): pip install torch torchvision timm safetensors pillow
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Head(nn.Module):
    """facebench's reference head: GAP -> BN -> Dense -> BN -> ReLU -> Dropout
    -> Dense -> BN -> ReLU -> Dropout -> Dense."""

    def __init__(self, features, head, classes, eps):
        super().__init__()
        self.bn0 = nn.BatchNorm1d(features, eps=eps)
        self.dense1 = nn.Linear(features, head["dense1"])
        self.bn1 = nn.BatchNorm1d(head["dense1"], eps=eps)
        self.dense2 = nn.Linear(head["dense1"], head["dense2"])
        self.bn2 = nn.BatchNorm1d(head["dense2"], eps=eps)
        self.out = nn.Linear(head["dense2"], classes)
        self.dropout = nn.Dropout(head["dropout"])

    def forward(self, feature_map):
        x = self.bn0(feature_map.mean((2, 3)))
        x = self.dropout(F.relu(self.bn1(self.dense1(x))))
        x = self.dropout(F.relu(self.bn2(self.dense2(x))))
        return self.out(x)


class ResNet(nn.Module):
    """torchvision's ResNet layout with any depths and first-stage width."""

    def __init__(self, depths, base, classes, eps):
        from torchvision.models.resnet import Bottleneck

        super().__init__()

        def norm(c):
            return nn.BatchNorm2d(c, eps=eps)

        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = norm(base)
        inplanes = base

        def stage(planes, blocks, stride):
            nonlocal inplanes
            layers = []
            for i in range(blocks):
                s = stride if i == 0 else 1
                down = None
                if s != 1 or inplanes != planes * 4:
                    down = nn.Sequential(
                        nn.Conv2d(inplanes, planes * 4, 1, s, bias=False), norm(planes * 4)
                    )
                layers.append(Bottleneck(inplanes, planes, s, down, norm_layer=norm))
                inplanes = planes * 4
            return nn.Sequential(*layers)

        self.layer1 = stage(base, depths[0], 1)
        self.layer2 = stage(base * 2, depths[1], 2)
        self.layer3 = stage(base * 4, depths[2], 2)
        self.layer4 = stage(base * 8, depths[3], 2)
        self.fc = nn.Linear(base * 32, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


class MaxPoolSame(nn.Module):
    """3x3 stride-2 max pool with TensorFlow's "same" padding (extra row and
    column at the bottom and right when a side is even)."""

    def forward(self, x):
        def pad(n):
            return max((math.ceil(n / 2) - 1) * 2 + 3 - n, 0)

        ph, pw = pad(x.shape[-2]), pad(x.shape[-1])
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=float("-inf"))
        return F.max_pool2d(x, 3, 2)


def set_eps(module, eps):
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = eps


def build(side):
    arch, classes = side["architecture"], len(side["classes"])
    eps = side["batch_norm_eps"]
    if arch == "resnet":
        return ResNet(side["depths"], side["base_planes"], classes, eps)
    head_eps = side["head_batch_norm_eps"]
    if arch == "densenet121":
        import torchvision

        net = torchvision.models.densenet121(weights=None)
        net.classifier = nn.Identity()
        set_eps(net.features, eps)
        net.head = Head(1024, side["head"], classes, head_eps)
        net.forward = lambda x: net.head(F.relu(net.features(x)))
        return net
    if arch == "xception":
        import timm

        net = timm.create_model("legacy_xception", pretrained=False, num_classes=0)
        for block in net.modules():
            if isinstance(block, nn.Sequential):
                for i, m in enumerate(block):
                    if isinstance(m, nn.MaxPool2d):
                        block[i] = MaxPoolSame()
        set_eps(net, eps)
        net.head = Head(2048, side["head"], classes, head_eps)
        net.forward = lambda x: net.head(net.forward_features(x))
        return net
    sys.exit(f"unknown architecture {arch!r} in the sidecar")


def load(sidecar_path):
    with open(sidecar_path) as f:
        side = json.load(f)
    weights = os.path.join(os.path.dirname(os.path.abspath(sidecar_path)), side["weights"])
    if side["format"] == "safetensors":
        from safetensors.torch import load_file

        state = load_file(weights)
    else:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    net = build(side)
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        sys.exit(f"the weights do not fit the network: missing {missing}, unexpected {unexpected}")
    return side, net.eval()


def preprocess(path, p):
    from PIL import Image

    image = Image.open(path).convert("RGB").resize((p["input_size"],) * 2, Image.BILINEAR)
    x = torch.tensor(list(image.getdata()), dtype=torch.float32).view(
        p["input_size"], p["input_size"], 3
    )
    x = (x / 255 - torch.tensor(p["mean"])) / torch.tensor(p["std"])
    return x.permute(2, 0, 1).unsqueeze(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sidecar", help="the .json that facebench export wrote")
    parser.add_argument("faces", nargs="*", help="face images to classify")
    parser.add_argument("--compare", help="JSON with shape, input and logits to check against")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    side, net = load(args.sidecar)
    print(f"loaded {side['architecture']} ({side['layout']}), {len(side['classes'])} classes")
    with torch.no_grad():
        if args.compare:
            with open(args.compare) as f:
                case = json.load(f)
            x = torch.tensor(case["input"], dtype=torch.float32).view(case["shape"])
            ours = net(x).flatten()
            theirs = torch.tensor(case["logits"], dtype=torch.float32)
            diff = (ours - theirs).abs().max().item()
            print(f"max |logit difference| {diff:.3g} over {theirs.numel()} logits")
            if not diff <= args.tolerance:
                sys.exit(f"outputs differ by {diff} > {args.tolerance}")
        for path in args.faces:
            p = torch.softmax(net(preprocess(path, side["preprocessing"])), 1)[0]
            top = p.topk(min(5, p.numel()))
            ranked = ", ".join(
                f"{side['classes'][c]} {v * 100:.1f}%" for v, c in zip(top.values, top.indices)
            )
            print(f"{path}: {ranked}")


if __name__ == "__main__":
    main()
