#!/usr/bin/env python3
"""Writes the reference fixtures of the map metrics (tests/fixtures/metrics/) from PyTorch.

Deletion and insertion: RISE's CausalMetric (Petsiuk et al. 2018, github.com/eclique/RISE,
evaluation.py) re-implemented on the tiny torchvision ResNet-18 of make_fixtures.py: pixels by
decreasing saliency (stable, so ties keep index order), `step` = ceil(HW / steps) pixels per
step, the softmax probability of the target before every step and after the last, area
(sum - first/2 - last/2) / (n - 1). Substrates: zeros, and torchvision's gaussian_blur
(kernel 11, sigma 5, reflect padding; RISE pads its blur with zeros, the only change).
Two maps: random, and the same quantized to ten levels (many ties).

Sensitivity-n: Ancona et al. 2018 with explicit subsets (written here, read by the test): the
Pearson correlation between the attribution sum over each removed subset (pixels zeroed in
every channel) and the drop of the target logit. Spearman: scipy's spearmanr on two maps with ties.

Run from the repository root:  /usr/bin/python3 tests/reference/make_metric_fixtures.py
"""
import json
import pathlib
import sys

import numpy as np
import torch
import torchvision.transforms.functional as TF
from scipy.stats import spearmanr
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_fixtures import TinyResNet, read_safetensors  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
OUT = FIXTURES / "metrics"


def causal_metric(model, image, saliency, target, steps, start, finish):
    """RISE's CausalMetric.single_run on one image, float64."""
    hw = saliency.numel()
    step = (hw + steps - 1) // steps
    n_steps = (hw + step - 1) // step
    order = np.argsort(-saliency.flatten().numpy(), kind="stable")
    current = start.clone()
    scores = []
    for i in range(n_steps + 1):
        with torch.no_grad():
            scores.append(float(torch.softmax(model(current), dim=1)[0, target]))
        if i < n_steps:
            coords = order[step * i:step * (i + 1)]
            current.view(1, 3, hw)[0, :, coords] = finish.view(1, 3, hw)[0, :, coords]
    scores = np.array(scores)
    return scores, float((scores.sum() - scores[0] / 2 - scores[-1] / 2) / (len(scores) - 1))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model = TinyResNet(BasicBlock, [2, 2, 2, 2], base=4, num_classes=10)
    model.load_state_dict(read_safetensors(FIXTURES / "tiny_resnet18.safetensors"), strict=False)
    model = model.eval().double()
    image = torch.from_numpy(np.load(FIXTURES / "resnet_input.npy"))[:1].double()
    target = int(model(image).argmax())
    generator = torch.Generator().manual_seed(7)
    maps = {"random": torch.rand(40, 36, generator=generator, dtype=torch.float64)}
    maps["ties"] = torch.floor(maps["random"] * 10)
    blurred = TF.gaussian_blur(image, [11, 11], [5.0, 5.0])
    summary = {"target": target, "steps": 7, "curves": {}}
    for map_name, saliency in maps.items():
        np.save(OUT / f"map_{map_name}.npy", saliency.float().numpy())
        for substrate_name, substrate in (("zeros", torch.zeros_like(image)), ("blur", blurred)):
            deletion, deletion_area = causal_metric(model, image, saliency, target, 7, image, substrate)
            insertion, insertion_area = causal_metric(model, image, saliency, target, 7, substrate, image)
            summary["curves"][f"{map_name}_{substrate_name}"] = {
                "deletion": deletion.tolist(), "deletion_area": deletion_area,
                "insertion": insertion.tolist(), "insertion_area": insertion_area}
            print(f"{map_name} {substrate_name}: deletion area {deletion_area:.4f}, "
                  f"insertion area {insertion_area:.4f}, {len(deletion)} points")

    # Sensitivity-n with explicit subsets.
    rng = np.random.default_rng(11)
    attribution = rng.standard_normal((40, 36))
    np.save(OUT / "sensitivity_attribution.npy", attribution.astype(np.float32))
    attribution = torch.from_numpy(attribution.astype(np.float32)).double()
    with torch.no_grad():
        score = float(model(image)[0, target])
    summary["sensitivity"] = []
    for n in (1, 30, 400):
        subsets = np.stack([rng.choice(1440, size=n, replace=False) for _ in range(12)])
        np.save(OUT / f"sensitivity_subsets_{n}.npy", subsets.astype(np.float64))  # exact below 2^53; our .npy reader takes floats
        sums, drops = [], []
        for subset in subsets:
            removed = image.clone()
            removed.view(1, 3, 1440)[0, :, subset] = 0.0
            with torch.no_grad():
                drops.append(score - float(model(removed)[0, target]))
            sums.append(float(attribution.flatten()[subset].sum()))
        r = float(np.corrcoef(sums, drops)[0, 1])
        summary["sensitivity"].append({"n": n, "correlation": r})
        print(f"sensitivity-{n}: r = {r:.4f}")

    a = np.floor(rng.random(200) * 8).astype(np.float32)
    b = (a + np.floor(rng.random(200) * 4)).astype(np.float32)
    np.save(OUT / "spearman_a.npy", a)
    np.save(OUT / "spearman_b.npy", b)
    summary["spearman"] = float(spearmanr(a, b).correlation)
    print(f"spearman with ties: {summary['spearman']:.6f}")
    (OUT / "metrics.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
