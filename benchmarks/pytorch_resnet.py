#!/usr/bin/env python3
"""PyTorch's side of bench_resnet: torchvision ResNet-50 (random weights), 2 threads, 224x224.

Prints the median over repeats of a forward pass (no grad) and a vanilla gradient (input
gradient of one logit, weights frozen), per batch. Run right after build/benchmarks/bench_resnet
on the same quiet machine: /usr/bin/python3 benchmarks/pytorch_resnet.py
"""
import statistics
import time

import torch
import torchvision

torch.set_num_threads(2)
model = torchvision.models.resnet50().eval()
for p in model.parameters():
    p.requires_grad_(False)


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


for batch in (1, 8):
    x = torch.randn(batch, 3, 224, 224)

    def forward():
        with torch.no_grad():
            model(x)

    def vanilla():
        image = x.clone().requires_grad_(True)
        model(image)[:, 207].sum().backward()

    repeats = 10 if batch == 1 else 4
    f, g = median_ms(forward, repeats), median_ms(vanilla, repeats)
    print(f"torch {torch.__version__} batch {batch}: forward {f:.1f} ms ({f / batch:.1f} ms/image), "
          f"vanilla gradient {g:.1f} ms ({g / batch:.1f} ms/image)")
