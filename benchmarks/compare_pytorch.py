#!/usr/bin/env python3
"""Per-image times of saliency's methods next to PyTorch / Captum on the same machine.

ResNet-50 at 224x224, batch 1, 2 threads, random weights (time does not depend on the values),
target class 207. For each method PyTorch/Captum and `saliency bench` run alternately, each
reporting the median of --repeat runs; the table gives both and the ratio ours / theirs. Both
sides do the same work: Integrated Gradients includes its completeness delta (f(x) - f(x') against
the attributions' sum), which our explain always computes and Captum is asked for. With
--rounds N they alternate N times per method and each side keeps its fastest round (on a host
whose load drifts, one round can catch either side in a slow stretch); the printed line also
gives the range of the per-round ratios.
Needs torch, torchvision, captum (Debian's python3-torch + pip captum work); LRP is compared
with Zennit's EpsilonPlusFlat + ResNetCanonizer when zennit is installed (its composite is
registered once, outside the timing, as a user explaining many images would). Not run in CI.

    /usr/bin/python3 benchmarks/compare_pytorch.py [--saliency build/saliency] [--repeat 3]
        [--rounds 1] [--methods forward,vanilla,...] [--conv direct|winograd|both]
        [--layouts both|nchw|channels_last]
        [--markdown benchmarks/RESULTS.md]

--conv picks our convolutions (saliency --conv: direct, the default, matches PyTorch within
float32's floor; winograd trades 6-12x the rounding error per layer for speed); both gives a
column each.

PyTorch runs each method in both memory layouts, NCHW and channels_last (model and input
converted), and the better of the two is what we are compared with (issue 6 states its targets
against PyTorch's better path; which one wins differs by method and machine: on the AVX2 Zen 3
host channels_last was faster for the forward and slower for the gradients). --layouts nchw or
channels_last times one only.
"""
import argparse
import contextlib
import copy
import datetime
import json
import platform
import statistics
import subprocess
import time

import torch
import torchvision
from captum.attr import GuidedBackprop, IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency

TARGET = 207


def median_seconds(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pytorch_methods(model, x, steps, samples, batch):
    return {
        "forward": lambda: model(x),
        "vanilla": lambda: Saliency(model).attribute(x, target=TARGET),
        # With the completeness delta, as `saliency explain` (and so `bench`) always reports it:
        # the two path ends' forward on each side.
        "integrated-gradients": lambda: IntegratedGradients(model).attribute(
            x, target=TARGET, n_steps=steps, internal_batch_size=batch,
            return_convergence_delta=True),
        "smoothgrad": lambda: NoiseTunnel(Saliency(model)).attribute(
            x, target=TARGET, nt_type="smoothgrad", nt_samples=samples,
            nt_samples_batch_size=batch, stdevs=0.15 * float(x.max() - x.min()), abs=False),
        "gradcam": lambda: LayerGradCam(model, model.layer4).attribute(x, target=TARGET),
        "guided-backprop": lambda: GuidedBackprop(model).attribute(x, target=TARGET),
    }


@contextlib.contextmanager
def zennit_lrp(model, x):
    """A function running one LRP pass with Zennit, inside its registered composite."""
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    with EpsilonPlusFlat(canonizers=[ResNetCanonizer()]).context(model) as modified:
        def run():
            xi = x.clone().requires_grad_(True)
            out = modified(xi)
            seed = torch.zeros_like(out)
            seed[0, TARGET] = out[0, TARGET].detach()
            torch.autograd.grad(out, xi, seed)
        yield run


LAYOUTS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}


def in_layout(model, x, layout):
    """The model and input converted to a memory layout (NCHW: the originals)."""
    if layout == "nchw":
        return model, x
    fmt = LAYOUTS[layout]
    return copy.deepcopy(model).to(memory_format=fmt), x.contiguous(memory_format=fmt)


def time_pytorch(name, model, x, args):
    """Median seconds of one PyTorch / Captum / Zennit method on this model and input."""
    if name == "lrp":
        with zennit_lrp(model, x) as run:
            return median_seconds(run, args.repeat)
    fn = pytorch_methods(model, x, args.steps, args.samples, args.batch)[name]
    if name == "forward":
        with torch.no_grad():
            return median_seconds(fn, args.repeat)
    return median_seconds(fn, args.repeat)


def ours(binary, method, repeat, steps, samples, batch, conv):
    # Batch 1 like the PyTorch side; the internal batch only for IG / SmoothGrad.
    chunk = batch if method in ("integrated-gradients", "smoothgrad") else 1
    output = subprocess.run(
        [binary, "--conv", conv, "bench", "--methods", method, "--repeat", str(repeat), "--steps", str(steps),
         "--samples", str(samples), "--batch-size", str(chunk), "--threads", "2", "--json"],
        check=True, capture_output=True, text=True).stdout
    report = json.loads(output)
    return report["results"][0]["per_image_ms"] / 1000, report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--saliency", default="build/saliency")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate PyTorch and ours this many times per method; "
                             "each side keeps its fastest round")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16, help="IG / SmoothGrad internal batch")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--methods", help="comma-separated subset (default: all, lrp with zennit)")
    parser.add_argument("--conv", choices=["direct", "winograd", "both"], default="direct",
                        help="our convolutions (saliency --conv); both: a column for each")
    parser.add_argument("--layouts", choices=["both", "nchw", "channels_last"], default="both",
                        help="PyTorch's memory layouts to time; the faster one is compared with")
    args = parser.parse_args()
    convs = ["direct", "winograd"] if args.conv == "both" else [args.conv]
    layouts = [layout for layout in LAYOUTS if args.layouts in ("both", layout)]

    torch.set_num_threads(2)
    model = torchvision.models.resnet50().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 224, 224)
    # The same weights and input in each layout.
    inputs = {layout: in_layout(model, x, layout) for layout in layouts}
    names = list(pytorch_methods(model, x, args.steps, args.samples, args.batch))
    try:
        import zennit  # noqa: F401
        names.append("lrp")
    except ImportError:
        print("zennit is not installed: no LRP row")
    if args.methods:
        names = [name for name in names if name in args.methods.split(",")]
    rows, report = [], None
    for name in names:
        theirs_rounds = {layout: [] for layout in layouts}
        mine_rounds = {conv: [] for conv in convs}
        for _ in range(args.rounds):
            for layout in layouts:
                theirs_rounds[layout].append(time_pytorch(name, *inputs[layout], args))
            for conv in convs:
                seconds, report = ours(args.saliency, name, args.repeat, args.steps, args.samples,
                                       args.batch, conv)
                mine_rounds[conv].append(seconds)
        theirs = min(min(times) for times in theirs_rounds.values())
        # Each round's PyTorch time: the better layout of that round.
        theirs_by_round = [min(times) for times in zip(*theirs_rounds.values())]
        mine = {conv: min(times) for conv, times in mine_rounds.items()}
        layout_note = ", ".join(f"{layout} {min(theirs_rounds[layout]) * 1000:.1f}"
                                for layout in layouts)
        rows.append((name, theirs * 1000, layout_note, [mine[conv] * 1000 for conv in convs],
                     [mine[conv] / theirs for conv in convs]))

        def spread(conv):
            if args.rounds == 1:
                return ""
            ratios = [m / t for m, t in zip(mine_rounds[conv], theirs_by_round)]
            return f" (rounds {min(ratios):.2f}-{max(ratios):.2f})"

        print(f"{name:22s} PyTorch/Captum {theirs * 1000:9.1f} ms ({layout_note})   " + "   ".join(
            f"saliency ({conv}) {mine[conv] * 1000:9.1f} ms ratio {mine[conv] / theirs:5.2f}"
            + spread(conv) for conv in convs), flush=True)

    if args.markdown:
        machine = report["machine"]
        lines = [
            f"## {datetime.date.today()}, {machine['cpu']}, {machine['threads']} threads",
            "",
            f"`{' '.join(['python3', 'benchmarks/compare_pytorch.py', '--repeat', str(args.repeat)] + (['--rounds', str(args.rounds)] if args.rounds != 1 else []) + (['--methods', args.methods] if args.methods else []) + (['--conv', args.conv] if args.conv != 'direct' else []) + (['--layouts', args.layouts] if args.layouts != 'both' else []))}`; "
            f"torch {torch.__version__}, torchvision {torchvision.__version__}, {platform.python_version()}; "
            f"FMA peak {report['peak_gflops']:.0f} GFLOP/s; ResNet-50 224x224, batch 1, "
            f"IG {args.steps} steps and SmoothGrad {args.samples} samples in batches of {args.batch}.",
            "",
            "| method | PyTorch / Captum ms (the faster layout; each layout's) | "
            + " | ".join(f"saliency ({conv}) ms | ratio ({conv})" for conv in convs) + " |",
            "|---|---|" + "---|---|" * len(convs),
        ] + [f"| {n} | {t:.1f} ({note}) | " + " | ".join(f"{m:.1f} | {r:.2f}" for m, r in zip(ms, rs))
             + " |" for n, t, note, ms, rs in rows]
        with open(args.markdown, "a") as f:
            f.write("\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
