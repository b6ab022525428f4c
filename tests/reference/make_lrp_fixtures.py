#!/usr/bin/env python3
"""Writes the LRP reference fixtures (tests/fixtures/lrp/) from Zennit.

The tiny torchvision ResNets of make_fixtures.py (weights read back from the committed
safetensors files, so the two scripts agree), the committed input batch, and Zennit's
relevance for each image's top class under four composites that together use every rule:

  epsilon-plus-flat       Zennit's EpsilonPlusFlat  (flat, z+, epsilon 1e-6)
  epsilon-gamma-box       Zennit's EpsilonGammaBox  (z-box, gamma 0.25, epsilon 1e-6)
  wsquare-alpha2-beta1    first conv w-square, convs alpha 2 beta 1, dense epsilon 0.25
  epsilon                 every conv and dense layer epsilon 0.1

Each composite uses Zennit's ResNetCanonizer (BatchNorm merged into the convolutions, the
residual addition as a Sum module with the Norm rule). Zennit 0.5.1's merge leaves the
identity BatchNorm dividing by sqrt(1 + eps), a stray factor its later versions remove by
zeroing eps; this script does the same (and checks the canonized model's logits equal the
original's), so the reference is the canonized network of the same function.

The relevance starts as the target logit (Zennit's grad_outputs = one-hot * logits). References
are computed in float64 and stored in float32, with Zennit's own float32-vs-float64 error per
composite, over the batch and per image (the C++ tests compare each image's error with the
image's own). That error depends on the host's float32 kernels (their summation order): the
float64 references came out bit-identical on an AVX-512 and an AVX2 host, Zennit's float32
error not (the batch errors in lrp.json are from an AVX2 Zen 3).

Needs torch, torchvision, numpy and zennit (pip install zennit==0.5.1; Debian's python3-torch
1.13 works). Run from the repository root:
    /usr/bin/python3 tests/reference/make_lrp_fixtures.py
"""
import copy
import json
import pathlib
import sys

import numpy as np
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck
from zennit import canonizers
from zennit.composites import (EpsilonGammaBox, EpsilonPlusFlat, SpecialFirstLayerMapComposite,
                               layer_map_base)
from zennit.rules import AlphaBeta, Epsilon, WSquare
from zennit.torchvision import ResNetCanonizer
from zennit.types import Convolution

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fixtures import TinyResNet, read_safetensors  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
OUT = FIXTURES / "lrp"
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

_zennit_merge = canonizers.MergeBatchNorm.merge_batch_norm


def _merge_without_stray_eps(modules, batch_norm):
    _zennit_merge(modules, batch_norm)
    batch_norm.eps = 0.0  # the identity BatchNorm must not divide by sqrt(1 + eps)


canonizers.MergeBatchNorm.merge_batch_norm = staticmethod(_merge_without_stray_eps)


def load_model(name, block, layers):
    model = TinyResNet(block, layers, base=4, num_classes=10)
    model.load_state_dict(read_safetensors(FIXTURES / f"{name}.safetensors"), strict=False)
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False  # Zennit's hooks and in-place ops do not mix
    return model.eval()


def bounds(dtype):
    low = torch.tensor([(0 - m) / s for m, s in zip(MEAN, STD)], dtype=dtype).view(1, 3, 1, 1)
    high = torch.tensor([(1 - m) / s for m, s in zip(MEAN, STD)], dtype=dtype).view(1, 3, 1, 1)
    return low, high


def composites(dtype):
    low, high = bounds(dtype)

    def custom(first, conv, dense):
        return SpecialFirstLayerMapComposite(
            layer_map=layer_map_base() + [(Convolution, conv), (torch.nn.Linear, dense)],
            first_map=[(Convolution, first)], canonizers=[ResNetCanonizer()])

    return {
        "epsilon-plus-flat": EpsilonPlusFlat(canonizers=[ResNetCanonizer()]),
        "epsilon-gamma-box": EpsilonGammaBox(low=low, high=high, canonizers=[ResNetCanonizer()]),
        "wsquare-alpha2-beta1": custom(WSquare(), AlphaBeta(alpha=2.0, beta=1.0), Epsilon(0.25)),
        "epsilon": custom(Epsilon(0.1), Epsilon(0.1), Epsilon(0.1)),
    }


def relevance(model, image, composite):
    """Zennit's relevance of each image's top logit, which seeds the backward pass."""
    model = copy.deepcopy(model)
    with torch.no_grad():
        plain = model(image)
    with composite.context(model) as modified:
        x = image.clone().requires_grad_(True)
        logits = modified(x)
        assert torch.allclose(logits, plain, rtol=1e-5, atol=1e-5), "canonization changed the logits"
        top = logits.argmax(dim=1, keepdim=True)
        seed = torch.zeros_like(logits).scatter(1, top, logits.gather(1, top)).detach()
        (result,) = torch.autograd.grad(logits, x, grad_outputs=seed)
    return result.detach(), top.squeeze(1), logits.detach()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    image = torch.from_numpy(np.load(FIXTURES / "resnet_input.npy"))
    models = {"tiny_resnet18": (BasicBlock, [2, 2, 2, 2]), "tiny_resnet50": (Bottleneck, [3, 4, 6, 3])}
    low, high = bounds(torch.float64)
    summary = {"low": low.flatten().tolist(), "high": high.flatten().tolist(), "cases": {}}
    for model_name, (block, layers) in models.items():
        model32 = load_model(model_name, block, layers)
        model64 = copy.deepcopy(model32).double()
        for composite_name in composites(torch.float32):
            r32, top, logits = relevance(model32, image, composites(torch.float32)[composite_name])
            r64, top64, logits64 = relevance(model64, image.double(), composites(torch.float64)[composite_name])
            assert torch.equal(top, top64)
            name = f"{model_name}_{composite_name}"
            np.save(OUT / f"{name}.npy", r64.float().numpy())
            error = float((r32.double() - r64).norm() / r64.norm())
            per_image = [float((r32[i].double() - r64[i]).norm() / r64[i].norm())
                         for i in range(r64.shape[0])]
            sums = r64.flatten(1).sum(1).tolist()
            summary["cases"][name] = {"targets": top.tolist(), "logits": logits64.gather(1, top[:, None]).flatten().tolist(),
                                      "relevance_sums": sums, "zennit_float32_error": error,
                                      "zennit_float32_errors": per_image}
            print(f"{name}: targets {top.tolist()}, relevance sums {['%.4f' % s for s in sums]} "
                  f"vs logits {['%.4f' % v for v in summary['cases'][name]['logits']]}, "
                  f"float32 error {error:.1e}")
    (OUT / "lrp.json").write_text(json.dumps(summary, indent=1))
    from importlib.metadata import version
    print("torch", torch.__version__, "zennit", version("zennit"))


if __name__ == "__main__":
    main()
