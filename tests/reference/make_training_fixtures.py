#!/usr/bin/env python3
"""Writes the training reference fixtures (tests/fixtures/training/) from PyTorch.

- optim_*.npy: a float64 parameter after four updates of torch.optim.SGD / Adam / AdamW from
  optim_initial.npy with the gradients in optim_grads.npy (one per step).
- train_step_*: two SGD steps of a tiny torchvision-layout ResNet-18 in training mode (BatchNorm
  with batch statistics, cross-entropy with label smoothing): the initial and final state dicts
  (running statistics included), the batch, the targets and the loss of each step.

Run from the repository root (same requirements as make_fixtures.py):
    /usr/bin/python3 tests/reference/make_training_fixtures.py
"""
import pathlib
import sys

import numpy as np
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fixtures import TinyResNet, randomize, write_safetensors  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "training"

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
}


def write_optimizer_fixtures(generator):
    initial = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    grads = torch.randn(4, 3, 4, generator=generator, dtype=torch.float64)
    np.save(OUT / "optim_initial.npy", initial.numpy())
    np.save(OUT / "optim_grads.npy", grads.numpy())
    for name, make in OPTIMIZERS.items():
        parameter = nn.Parameter(initial.clone())
        optimizer = make([parameter])
        for grad in grads:
            parameter.grad = grad.clone()
            optimizer.step()
        np.save(OUT / f"optim_{name}.npy", parameter.detach().numpy())


def write_train_step_fixtures(generator):
    model = TinyResNet(BasicBlock, [1, 1, 1, 1], base=4, num_classes=5)
    randomize(model, generator)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(OUT / "train_step_initial.safetensors", {k: v.numpy() for k, v in state.items()})
    images = torch.randn(6, 3, 32, 32, generator=generator)
    targets = torch.tensor([0, 1, 2, 3, 4, 2])
    np.save(OUT / "train_step_images.npy", images.numpy())
    np.save(OUT / "train_step_targets.npy", targets.numpy().astype(np.float32))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images), targets, label_smoothing=0.1)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    np.save(OUT / "train_step_losses.npy", np.array(losses))
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(OUT / "train_step_final.safetensors", {k: v.numpy() for k, v in state.items()})


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(7)
    write_optimizer_fixtures(generator)
    write_train_step_fixtures(generator)
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
