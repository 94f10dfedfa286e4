#!/usr/bin/env python3
"""The PyTorch peer of bench_training: the same training steps (forward, cross-entropy,
backward, SGD with momentum 0.9 and weight decay 5e-4) of the same architectures, in
images per second. Run it as bench/README.md says (2 threads, OpenBLAS's own kernel choice).
Skips with a message when python3-torch is not installed."""
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torchvision
except ImportError:
    print("skipped: python3-torch / python3-torchvision are not installed (apt install python3-torch python3-torchvision)")
    sys.exit(0)

torch.set_num_threads(2)


def basic_block(cin, cout, stride):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))
    return Block()


def small_resnet():
    """examples/small_resnet.cpp: ResNet-20 for 28x28 grayscale."""
    layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for c in (16, 32, 64):
        for b in range(3):
            layers.append(basic_block(cin, c, 2 if b == 0 and c != 16 else 1))
            cin = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def bench(name, model, shape, classes, seconds=10.0):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.full(shape, 0.5)
    y = torch.arange(shape[0]) % classes
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    for _ in range(3):
        step()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    dt = time.perf_counter() - t0
    print(f"{name}: {n * shape[0] / dt:.1f} images/s ({dt / n * 1e3:.1f} ms per step, {n} steps)")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench("train/small_resnet_b64", small_resnet(), (64, 1, 28, 28), 10)
    bench("train/resnet18_224_b8", torchvision.models.resnet18(), (8, 3, 224, 224), 1000, seconds=20.0)
    bench("train/resnet50_224_b8", torchvision.models.resnet50(), (8, 3, 224, 224), 1000, seconds=20.0)
