#!/usr/bin/env python3
"""Writes the Vision Transformer fixtures (tests/fixtures/vit/) from torchvision.

A tiny torchvision VisionTransformer (32x32 images, 8x8 patches, 2 layers, 2 heads, width 16,
MLP 32, 5 classes) with seeded weights (LayerNorms and embeddings randomized too), a seeded
batch of two images, and in float64 (stored in float32) with PyTorch's own float32 error:
  - logits, and the input gradient of each image's top logit;
  - the attention probabilities of every layer, recomputed from each block's ln_1 output with
    the layer's in_proj weights (torchvision does not return them);
  - attention rollout of image 0 (mean fusion, no discard; max fusion, discard 0.5), by the
    definition in saliency/rollout.h (rows renormalized to sum 1);
  - Grad-CAM on the last block's ln_1 with pytorch-grad-cam's ViT reshape transform
    (patch tokens -> [N, D, h, w]; weights = spatial mean of the gradient; relu of the sum).
The weights file carries metadata saliency.vit.heads = 2 (no tensor shape shows the head
count) and saliency.input_size = 32.

Run from the repository root:  /usr/bin/python3 tests/reference/make_vit_fixtures.py
"""
import copy
import json
import pathlib
import sys

import numpy as np
import torch
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fixtures import write_safetensors  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "vit"
HEADS = 2


def make_model(generator):
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=HEADS,
                              hidden_dim=16, mlp_dim=32, num_classes=5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and "ln" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif p.dim() >= 2 or name in ("class_token",):
                fan_in = p[0].numel() if p.dim() >= 2 else 1
                p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
    return model.eval()


def attention_maps(model, x):
    """Each block's softmax(Q K^T / sqrt(d)) from its ln_1 output."""
    captured = []
    hooks = [layer.ln_1.register_forward_hook(lambda m, i, o: captured.append(o))
             for layer in model.encoder.layers]
    model(x)
    for h in hooks:
        h.remove()
    maps = []
    for layer, y in zip(model.encoder.layers, captured):
        attn = layer.self_attention
        qkv = torch.nn.functional.linear(y, attn.in_proj_weight, attn.in_proj_bias)
        n, t, _ = qkv.shape
        q, k, _ = qkv.view(n, t, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
        maps.append(torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1))
    return maps


def rollout(maps, fusion, discard_ratio):
    tokens = maps[0].shape[-1]
    result = torch.eye(tokens, dtype=maps[0].dtype)
    for attention in maps:
        a = {"mean": attention[0].mean(0), "max": attention[0].max(0)[0],
             "min": attention[0].min(0)[0]}[fusion].clone()
        flat = a.view(-1)
        k = int(flat.numel() * discard_ratio)
        if k:
            order = np.argsort(flat.numpy(), kind="stable")[:k]
            order = order[order != 0]
            flat[torch.from_numpy(order)] = 0
        a = (a + torch.eye(tokens, dtype=a.dtype)) / 2
        a = a / a.sum(dim=-1, keepdim=True)
        result = a @ result
    mask = result[0, 1:]
    grid = int(round((tokens - 1) ** 0.5))
    return (mask / mask.max()).reshape(1, 1, grid, grid)


def gradcam(model, x, target):
    captured = {}

    def keep(module, inputs, output):
        patches = output[:, 1:, :]
        n, p, d = patches.shape
        grid = int(round(p ** 0.5))
        fmap = patches.reshape(n, grid, grid, d).permute(0, 3, 1, 2)
        fmap.retain_grad()
        captured["map"] = fmap
        return torch.cat([output[:, :1, :], fmap.permute(0, 2, 3, 1).reshape(n, p, d)], dim=1)

    hook = model.encoder.layers[-1].ln_1.register_forward_hook(keep)
    logits = model(x)
    hook.remove()
    logits[0, target].backward()
    fmap, grad = captured["map"], captured["map"].grad
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * fmap).sum(dim=1, keepdim=True)).detach()


def compute(model, image):
    x = image.clone().requires_grad_(True)
    logits = model(x)
    top = logits.argmax(dim=1)
    logits.backward(torch.zeros_like(logits).scatter_(1, top[:, None], 1.0))
    with torch.no_grad():
        maps = attention_maps(model, image)
    out = {"logits": logits.detach(), "input_grad": x.grad,
           "rollout_mean": rollout([m[:1] for m in maps], "mean", 0.0),
           "rollout_max_discard": rollout([m[:1] for m in maps], "max", 0.5),
           "gradcam": gradcam(model, image[:1], int(top[0]))}
    for i, m in enumerate(maps):
        out[f"attention_{i}"] = m
    return out, top


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(31)
    model = make_model(generator)
    image = torch.randn(2, 3, 32, 32, generator=generator)
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    write_safetensors(OUT / "tiny_vit.safetensors", state,
                      {"saliency.vit.heads": str(HEADS), "saliency.input_size": "32"})
    torch.save(model.state_dict(), OUT / "tiny_vit.pth")  # for the converter
    np.save(OUT / "input.npy", image.numpy())
    ref32, top = compute(model, image)
    ref64, _ = compute(copy.deepcopy(model).double(), image.double())
    errors = {}
    for key, value in ref64.items():
        np.save(OUT / f"{key}.npy", value.float().numpy())
        errors[key] = float((ref32[key].double() - value).norm() / value.norm())
    (OUT / "vit.json").write_text(json.dumps({"targets": top.tolist(), "heads": HEADS,
                                              "torch_float32_error": errors}, indent=1))
    print("targets", top.tolist())
    print("torch float32 vs float64:", {k: f"{v:.1e}" for k, v in errors.items()})


if __name__ == "__main__":
    main()
