#!/usr/bin/env python3
"""Opt-in check on a full-size ResNet-50: torchvision's model with seeded random weights (BatchNorm
statistics from training-mode passes) saved with torch.save and read natively.
 1. `saliency predict --weights x.pth` must give PyTorch's float64 logits within 10x PyTorch's
    own float32 error (max-abs relative);
 2. the C++ test FullResNet50.* compares logits and the input gradient of the top logit with
    float64 in relative L2 (see tests/test_full_resnet50.cpp).

Run by ctest as `reference.full_resnet50`; exits 77 (skipped) when torch/torchvision are absent.
Usage: full_resnet50_check.py SALIENCY_BINARY TEST_BINARY WORK_DIR
"""
import os
import json
import pathlib
import subprocess
import sys

try:
    import numpy as np
    import torch
    import torchvision
except ImportError as error:
    print(f"skipped: {error.name} is not installed (pip install torch torchvision numpy, or Debian's "
          "python3-torch python3-torchvision)")
    sys.exit(77)


def main():
    binary, tests, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, 224, 224))
    model.eval()
    torch.save(model.state_dict(), work / "resnet50_random.pth")
    image = torch.randn(1, 3, 224, 224)
    np.save(work / "input.npy", image.numpy())
    def logits_and_gradient(net, x):
        x = x.clone().requires_grad_(True)
        logits = net(x)
        logits[0, logits[0].argmax()].backward()
        return logits.detach()[0], x.grad

    def relative_l2(a, b):
        return float((a.double() - b).norm() / b.norm())

    for p in model.parameters():
        p.requires_grad_(False)
    logits32, grad32 = logits_and_gradient(model, image)
    model64 = model.double()
    logits64, grad64 = logits_and_gradient(model64, image.double())
    np.save(work / "logits64.npy", logits64.numpy()[None])
    np.save(work / "input_grad64.npy", grad64.numpy())
    np.save(work / "torch_float32_error.npy", np.array([relative_l2(logits32, logits64), relative_l2(grad32, grad64)]))
    torch_error = float((logits32.double() - logits64).abs().max() / logits64.abs().max())

    output = subprocess.run([binary, "predict", str(work / "input.npy"), "--weights",
                             str(work / "resnet50_random.pth"), "--model", "resnet50",
                             "--topk", "1000", "--json"], check=True, capture_output=True, text=True)
    ours = np.zeros(1000)
    for entry in json.loads(output.stdout)["top"]:
        ours[entry["index"]] = entry["logit"]
    error = float(np.abs(ours - logits64.numpy()).max() / np.abs(logits64.numpy()).max())
    tolerance = max(10 * torch_error, 1e-6)
    print(f"saliency predict on the .pth: logits max-abs relative error {error:.2e} vs float64 "
          f"(PyTorch float32: {torch_error:.2e}, tolerance {tolerance:.2e})")
    if error > tolerance:
        return 1
    environment = dict(os.environ, SALIENCY_FULL_RESNET50_DIR=str(work))
    return subprocess.run([tests, "--gtest_filter=FullResNet50.*"], env=environment).returncode


if __name__ == "__main__":
    sys.exit(main())
