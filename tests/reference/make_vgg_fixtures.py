#!/usr/bin/env python3
"""Writes the VGG fixtures (tests/fixtures/vgg/) from torchvision and Zennit.

Two tiny VGGs in torchvision's exact layout (torchvision.models.vgg.make_layers for
"features", indices 0/3/6 in "classifier", AdaptiveAvgPool2d(7)), with and without BatchNorm:
layout [4, M, 8, M, 8, 8, M, 16, 16, M], classifier width 16, 6 classes. Seeded weights with
non-trivial BatchNorm statistics; the committed 40x36 input batch (resnet_input.npy), whose
2x2 final grid the adaptive pool spreads to 7x7. In float64 (stored as float32), with PyTorch's
own float32 error: logits; the input gradient of each image's top logit; Grad-CAM at the last
convolution block's ReLU (before the last pool) for image 0; Zennit's EpsilonPlusFlat LRP for
image 0 (SequentialMergeBatchNorm for the BN model, with the eps fix of make_lrp_fixtures.py).

Run from the repository root:  /usr/bin/python3 tests/reference/make_vgg_fixtures.py
"""
import copy
import json
import pathlib
import sys

import numpy as np
import torch
from torch import nn
from torchvision.models.vgg import make_layers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fixtures import write_safetensors  # noqa: E402
import make_lrp_fixtures  # noqa: E402,F401  (installs the BatchNorm-merge eps fix)
from zennit.canonizers import SequentialMergeBatchNorm  # noqa: E402
from zennit.composites import EpsilonPlusFlat  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
OUT = FIXTURES / "vgg"
LAYOUT = [4, "M", 8, "M", 8, 8, "M", 16, 16, "M"]


class TinyVGG(nn.Module):
    """torchvision's VGG with a narrow classifier (its own class fixes 512 x 7 x 7 -> 4096)."""

    def __init__(self, batch_norm):
        super().__init__()
        self.features = make_layers(LAYOUT, batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 7 * 7, 16), nn.ReLU(True), nn.Dropout(),
            nn.Linear(16, 16), nn.ReLU(True), nn.Dropout(), nn.Linear(16, 6))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def make_model(batch_norm, generator):
    model = TinyVGG(batch_norm)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=generator))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=generator))
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 40, 36, generator=generator))
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # hooks and Zennit need the ReLU outputs intact
    return model.eval()


def compute(model, image):
    x = image.clone().requires_grad_(True)
    logits = model(x)
    top = logits.argmax(dim=1)
    logits.backward(torch.zeros_like(logits).scatter_(1, top[:, None], 1.0))
    out = {"logits": logits.detach(), "input_grad": x.grad}
    # Grad-CAM at the last block's ReLU (the module before the final max pool).
    captured = {}
    cam_module = model.features[len(model.features) - 2]
    def keep(module, inputs, output):  # returns None: a hook's return value replaces the output
        output.retain_grad()
        captured["a"] = output

    hook = cam_module.register_forward_hook(keep)
    logits0 = model(image[:1])
    hook.remove()
    logits0[0, top[0]].backward()
    a, g = captured["a"], captured["a"].grad
    out["gradcam"] = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)).detach()
    # Zennit LRP, EpsilonPlusFlat, seeded with the logit.
    lrp_model = copy.deepcopy(model)
    with EpsilonPlusFlat(canonizers=[SequentialMergeBatchNorm()]).context(lrp_model) as modified:
        x0 = image[:1].clone().requires_grad_(True)
        y = modified(x0)
        seed = torch.zeros_like(y)
        seed[0, top[0]] = y[0, top[0]].detach()
        (relevance,) = torch.autograd.grad(y, x0, seed)
    out["lrp"] = relevance.detach()
    return out, top


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(41)
    image = torch.from_numpy(np.load(FIXTURES / "resnet_input.npy"))
    summary = {}
    for name, batch_norm in (("tiny_vgg", False), ("tiny_vgg_bn", True)):
        model = make_model(batch_norm, generator)
        state = {k: v.numpy() for k, v in model.state_dict().items()
                 if not k.endswith("num_batches_tracked")}
        write_safetensors(OUT / f"{name}.safetensors", state)
        ref32, top = compute(model, image)
        ref64, _ = compute(copy.deepcopy(model).double(), image.double())
        errors = {}
        for key, value in ref64.items():
            np.save(OUT / f"{name}_{key}.npy", value.float().numpy())
            errors[key] = float((ref32[key].double() - value).norm() / value.norm())
        summary[name] = {"targets": top.tolist(), "torch_float32_error": errors}
        print(name, "targets", top.tolist(), {k: f"{v:.1e}" for k, v in errors.items()})
    (OUT / "vgg.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
