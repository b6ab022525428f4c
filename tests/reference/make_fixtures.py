#!/usr/bin/env python3
"""Writes the reference fixtures the C++ tests read (tests/fixtures/), from PyTorch.

Tiny ResNets in torchvision's exact layout (torchvision's own BasicBlock / Bottleneck and
ResNet._make_layer, only with a narrower stem so the files stay small), seeded weights with
non-trivial BatchNorm statistics, a seeded input batch, and what PyTorch computes for them:
logits, the input gradient of each image's top logit, and layer4's activation and gradient.

Needs torch, torchvision and numpy: Debian's python3-torch python3-torchvision python3-numpy
(run with /usr/bin/python3) or the pip packages. Run from the repository root:
    /usr/bin/python3 tests/reference/make_fixtures.py
CI does not run this; the outputs are committed.
"""
import copy
import json
import pathlib
import struct

import numpy as np
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures"


class TinyResNet(ResNet):
    """torchvision's ResNet with the stem width `base` instead of 64 (stages base * 1, 2, 4, 8)."""

    def __init__(self, block, layers, base, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = base, 1, 1, 64
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, base, layers[0])
        self.layer2 = self._make_layer(block, base * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, base * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, base * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(base * 8 * block.expansion, num_classes)


def randomize(model, generator):
    """Seeded weights; BatchNorm affine parameters randomized and its running statistics set by
    a few forward passes in training mode, so activations are neither degenerate nor trivial."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(0.5 + torch.rand(c, generator=generator))
                module.bias.copy_(0.1 * torch.randn(c, generator=generator))
            elif isinstance(module, nn.Linear):
                module.weight.copy_(0.1 * torch.randn(module.weight.shape, generator=generator))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=generator))
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 40, 36, generator=generator))
        model.eval()


def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout: u64 LE header length, JSON header, then the raw data."""
    header, offset, blobs = ({"__metadata__": metadata} if metadata else {}), 0, []
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        blobs.append(array.tobytes())
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """The inverse of write_safetensors (float32 tensors), for the scripts that reuse these models."""
    data = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[8 + length + begin:8 + length + end], dtype="<f4")
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors


def run(model, image):
    """Logits, the input gradient of each image's top logit, layer4's value and gradient."""
    captured = {}

    def keep_layer4(module, inputs, output):  # returns None: a hook's return value replaces the output
        captured["layer4"] = output
        output.retain_grad()

    hook = model.layer4.register_forward_hook(keep_layer4)
    x = image.clone().requires_grad_(True)
    logits = model(x)
    top = logits.argmax(dim=1)
    logits.backward(torch.zeros_like(logits).scatter_(1, top[:, None], 1.0))
    hook.remove()
    return {"logits": logits.detach(), "input_grad": x.grad, "layer4": captured["layer4"].detach(),
            "layer4_grad": captured["layer4"].grad}


def relative_error(a, b):
    return float((a.double() - b).abs().max() / b.abs().max())


def write_model_fixture(name, model, image):
    """Weights, float64 reference outputs, and PyTorch's own float32-vs-float64 error per output
    (the C++ tests set their tolerances from it)."""
    model.eval()
    state = {k: v.numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(OUT / f"{name}.safetensors", state)
    result32 = run(model, image)
    result64 = run(copy.deepcopy(model).double(), image.double())
    for key, value in result64.items():
        np.save(OUT / f"{name}_{key}.npy", value.numpy())
    errors = [relative_error(result32[k], result64[k]) for k in ("logits", "input_grad", "layer4", "layer4_grad")]
    np.save(OUT / f"{name}_torch_float32_error.npy", np.array(errors))
    print(f"{name}: top classes {result32['logits'].argmax(1).tolist()}, "
          f"torch float32 vs float64 relative error {['%.1e' % e for e in errors]}")
    return model


class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward is a modified rule: an independent reference for the engine's rule
    sets (and a check on Captum, whose module hooks see torchvision's reused ReLU modules)."""

    @staticmethod
    def forward(ctx, x, rule):
        ctx.rule = rule
        output = x.clamp(min=0)
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, grad):
        (output,) = ctx.saved_tensors
        if ctx.rule == "guided":
            return grad * (output > 0) * (grad > 0), None
        return grad.clamp(min=0), None  # deconvnet


class RuleReLU(nn.Module):
    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def forward(self, x):
        return GuidedReLU.apply(x, self.rule)


def with_relu_rule(model, rule):
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if hasattr(module, "relu"):
            module.relu = RuleReLU(rule)
    return clone


def method_references(model, x, target, noise):
    """Every method's attribution for one image, computed with Captum (and PyTorch directly
    where Captum has no exact counterpart), in the dtype of model and x."""
    from captum.attr import (Deconvolution, GuidedBackprop, GuidedGradCam, InputXGradient,
                             IntegratedGradients, LayerGradCam, Saliency)

    out = {}
    out["vanilla"] = Saliency(model).attribute(x, target=target, abs=True)
    out["grad-x-input"] = InputXGradient(model).attribute(x, target=target)
    # SmoothGrad with the saved noise: the aggregation of Captum's NoiseTunnel, made explicit.
    grads = torch.cat([Saliency(model).attribute(x + e[None], target=target, abs=False) for e in noise])
    out["smoothgrad"] = grads.mean(0, keepdim=True)
    out["smoothgrad-sq"] = (grads ** 2).mean(0, keepdim=True)
    out["vargrad"] = out["smoothgrad-sq"] - out["smoothgrad"] ** 2
    for method, steps in (("gausslegendre", 20), ("riemann_trapezoid", 16)):
        attribution, delta = IntegratedGradients(model).attribute(
            x, target=target, n_steps=steps, method=method, return_convergence_delta=True)
        out[f"integrated-gradients-{method}"] = attribution
        out[f"integrated-gradients-{method}-delta"] = delta.reshape(1)
    out["gradcam"] = LayerGradCam(model, model.layer4).attribute(x, target=target, relu_attributions=True)
    out["guided-backprop"] = Saliency(with_relu_rule(model, "guided")).attribute(x, target=target, abs=False)
    out["deconvnet"] = Saliency(with_relu_rule(model, "deconvnet")).attribute(x, target=target, abs=False)
    out["captum-guided-backprop"] = GuidedBackprop(model).attribute(x, target=target)
    out["captum-deconvnet"] = Deconvolution(model).attribute(x, target=target)
    out["guided-gradcam"] = GuidedGradCam(model, model.layer4).attribute(
        x, target=target, interpolate_mode="bilinear")
    # Captum's own defaults (the --preset captum choices) and a noise tunnel over guided backprop.
    out["gradcam-captum-default"] = LayerGradCam(model, model.layer4).attribute(x, target=target)
    out["guided-gradcam-captum-default"] = GuidedGradCam(model, model.layer4).attribute(x, target=target)
    guided = with_relu_rule(model, "guided")
    out["smooth-guided-backprop"] = torch.cat(
        [Saliency(guided).attribute(x + e[None], target=target, abs=False) for e in noise]).mean(0, keepdim=True)
    return out


def write_method_fixtures(model, generator):
    """Captum's attributions on the tiny ResNet-50 layout for one 64x64 image, as float64
    references stored in float32, with PyTorch's own float32-vs-float64 error per method."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 64, 64, generator=generator)
    target = int(model(x).argmax())
    sigma = 0.15 * float(x.max() - x.min())
    noise = torch.randn(4, 3, 64, 64, generator=generator) * sigma
    np.save(OUT / "methods_input.npy", x.numpy())
    np.save(OUT / "methods_noise.npy", noise.numpy())
    ref32 = method_references(model, x, target, noise)
    ref64 = method_references(copy.deepcopy(model).double(), x.double(), target, noise.double())
    for ours, captums in (("guided-backprop", "captum-guided-backprop"), ("deconvnet", "captum-deconvnet")):
        difference = float((ref64[captums] - ref64[ours]).norm() / ref64[ours].norm())
        print(f"methods: Captum {captums[7:]} vs the ReLU-rule reference: relative L2 {difference:.1e}")
        del ref32[captums], ref64[captums]
    errors = {}
    for name, value in ref64.items():
        np.save(OUT / f"method_{name}.npy", value.detach().float().numpy())
        a, b = ref32[name].double(), value.double()
        errors[name] = float((a - b).norm() / b.norm()) if b.norm() > 0 else 0.0
    (OUT / "methods.json").write_text(json.dumps({"target": target, "sigma": sigma,
                                                  "torch_float32_error": errors}, indent=1))
    print(f"methods: target {target}")
    print("  torch float32 vs float64:", {k: f"{v:.1e}" for k, v in errors.items()})


def write_preprocessing_fixtures():
    """torchvision's ImageNet evaluation transform on real photos (PIL decoding and resizing)."""
    from PIL import Image
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    images = pathlib.Path(__file__).resolve().parents[2] / "data" / "images"
    for name in ["cat.png", "dog.jpg"]:
        image = Image.open(images / name).convert("RGB")
        tensor = transform(image).unsqueeze(0)
        np.save(OUT / f"preprocess_{name.split('.')[0]}.npy", tensor.numpy())
        print(f"{name}: {image.size} -> {tuple(tensor.shape)}")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*"):
        if stale.is_file():  # training/ belongs to make_training_fixtures.py
            stale.unlink()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(2026)
    # Batch 2, non-square: 40x36 -> stem 20x18 -> maxpool 10x9 -> layer4 2x2.
    image = torch.randn(2, 3, 40, 36, generator=generator)
    np.save(OUT / "resnet_input.npy", image.numpy())
    # torchvision's ResNet-18 and ResNet-50 block layouts with a 4-channel stem.
    resnet18 = TinyResNet(BasicBlock, [2, 2, 2, 2], base=4, num_classes=10)
    randomize(resnet18, generator)
    write_model_fixture("tiny_resnet18", resnet18, image)
    resnet50 = TinyResNet(Bottleneck, [3, 4, 6, 3], base=4, num_classes=10)
    randomize(resnet50, generator)
    write_model_fixture("tiny_resnet50", resnet50, image)
    # The same weights as PyTorch checkpoints, both containers (BatchNorm counters included).
    torch.save(resnet50.state_dict(), OUT / "tiny_resnet50.pth")
    torch.save(resnet50.state_dict(), OUT / "tiny_resnet50_legacy.pth", _use_new_zipfile_serialization=False)
    write_method_fixtures(resnet50, generator)
    write_preprocessing_fixtures()
    with torch.no_grad():  # end to end: torchvision's preprocessing, then a tiny model
        cat = torch.from_numpy(np.load(OUT / "preprocess_cat.npy"))
        np.save(OUT / "tiny_resnet18_cat_logits.npy", resnet18(cat).numpy())
    print("torch", torch.__version__)


if __name__ == "__main__":
    main()
