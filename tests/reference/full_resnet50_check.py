#!/usr/bin/env python3
"""Opt-in check on a full-size ResNet-50: torchvision's model with seeded random weights (BatchNorm
statistics from training-mode passes) saved with torch.save, loaded natively by `saliency predict
--weights x.pth`, must give PyTorch's float64 logits within 10x PyTorch's own float32 error.

Run by ctest as `reference.full_resnet50`; exits 77 (skipped) when torch/torchvision are absent.
Usage: full_resnet50_check.py SALIENCY_BINARY WORK_DIR
"""
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
    binary, work = sys.argv[1], pathlib.Path(sys.argv[2])
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
    with torch.no_grad():
        logits32 = model(image)[0]
        logits64 = model.double()(image.double())[0]
    torch_error = float((logits32.double() - logits64).abs().max() / logits64.abs().max())

    output = subprocess.run([binary, "predict", str(work / "input.npy"), "--weights",
                             str(work / "resnet50_random.pth"), "--model", "resnet50",
                             "--topk", "1000", "--json"], check=True, capture_output=True, text=True)
    ours = np.zeros(1000)
    for entry in json.loads(output.stdout)["top"]:
        ours[entry["index"]] = entry["logit"]
    error = float(np.abs(ours - logits64.numpy()).max() / np.abs(logits64.numpy()).max())
    tolerance = max(10 * torch_error, 1e-6)
    print(f"full ResNet-50 logits: relative error {error:.2e} vs float64 "
          f"(PyTorch float32: {torch_error:.2e}, tolerance {tolerance:.2e})")
    return 0 if error <= tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
