#!/usr/bin/env python3
"""PyTorch's times for issue 7's GPU targets, on the GPU it runs on (run by scripts/gpu-check.sh).

ResNet-50 at 224x224, random weights (time does not depend on the values), fp32, eager mode:
forward throughput at batch 64 (NCHW and channels_last, TF32 off and on), a vanilla gradient of
one image, and Integrated Gradients with 50 steps in one batch (the same arithmetic as Captum's
IntegratedGradients with internal_batch_size=50, written out so the script needs torch alone).
Prints one markdown table; each figure is the median of --repeat timed runs after warm-up,
timed with CUDA events.
"""
import argparse
import statistics

import torch
import torchvision

TARGET = 207


def median_ms(fn, repeat):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def vanilla(model, x):
    x = x.clone().requires_grad_(True)
    model(x)[:, TARGET].sum().backward()
    return x.grad


def integrated_gradients(model, x, steps):
    alphas = (torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps
    path = (alphas.view(-1, 1, 1, 1) * x).requires_grad_(True)
    model(path)[:, TARGET].sum().backward()
    return x * path.grad.mean(0, keepdim=True)


def smoothgrad(model, x, samples, noise_level=0.15):
    sigma = noise_level * (x.max() - x.min())
    noisy = (x + sigma * torch.randn(samples, *x.shape[1:], device=x.device)).requires_grad_(True)
    model(noisy)[:, TARGET].sum().backward()
    return noisy.grad.mean(0, keepdim=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = torchvision.models.resnet50().cuda().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    one = torch.randn(1, 3, 224, 224, device="cuda")
    batch = torch.randn(64, 3, 224, 224, device="cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, cudnn "
          f"{torch.backends.cudnn.version()}")
    print("| PyTorch eager, ResNet-50 fp32 | TF32 | ms (median) | per image |")
    print("|---|---|---|---|")
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        with torch.no_grad():
            for layout in ("NCHW", "channels_last"):
                m = model.to(memory_format=torch.channels_last) if layout != "NCHW" else model
                xb = batch.to(memory_format=torch.channels_last) if layout != "NCHW" else batch
                ms = median_ms(lambda: m(xb), args.repeat)
                print(f"| forward batch 64, {layout} | {tf32} | {ms:.2f} | "
                      f"{ms / 64:.3f} ms ({64000 / ms:.0f} images/s) |")
                model = model.to(memory_format=torch.contiguous_format)
        ms = median_ms(lambda: vanilla(model, one), args.repeat)
        print(f"| vanilla gradient, 1 image | {tf32} | {ms:.2f} | {ms:.2f} ms |")
        ms = median_ms(lambda: integrated_gradients(model, one, 50), args.repeat)
        print(f"| Integrated Gradients, 50 steps in one batch | {tf32} | {ms:.2f} | {ms:.2f} ms |")
        ms = median_ms(lambda: smoothgrad(model, one, 50), args.repeat)
        print(f"| SmoothGrad, 50 samples in one batch | {tf32} | {ms:.2f} | {ms:.2f} ms |")


if __name__ == "__main__":
    main()
