#!/usr/bin/env python3
"""Writes the small seed inputs of the safetensors, npy, pth and cli fuzz targets
(tests/fuzz/seeds/). The image seeds are 8x6 pictures written by stb_image_write (PNG grey /
RGB / RGBA, JPEG grey / RGB, BMP, TGA), a 1x1 GIF, and copies of tests/data/bad.

Run from the repository root with torch and numpy: /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import pathlib
import struct

import numpy as np
import torch

SEEDS = pathlib.Path(__file__).resolve().parent / "seeds"


def safetensors_bytes(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        dtype = {np.float32: "F32", np.float64: "F64"}[array.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
        blobs.append(array.tobytes())
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def main():
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    bias = np.array([0.5, -1.0], dtype=np.float64)
    (SEEDS / "safetensors" / "two_tensors.safetensors").write_bytes(
        safetensors_bytes({"fc.weight": weights, "fc.bias": bias}, {"saliency.classes": "a,b"}))
    (SEEDS / "safetensors" / "scalar.safetensors").write_bytes(
        safetensors_bytes({"x": np.array(3.0, dtype=np.float32)}))
    np.save(SEEDS / "npy" / "float32_2x3.npy", weights)
    np.save(SEEDS / "npy" / "float64_vector.npy", bias)
    np.save(SEEDS / "npy" / "fortran.npy", np.asfortranarray(np.ones((2, 2), dtype=np.float32)))
    state = {"conv.weight": torch.arange(8, dtype=torch.float32).reshape(2, 1, 2, 2),
             "bn.running_var": torch.ones(2, dtype=torch.float64),
             "bn.num_batches_tracked": torch.tensor(3)}
    torch.save(state, SEEDS / "pth" / "zip.pth")
    torch.save(state, SEEDS / "pth" / "legacy.pth", _use_new_zipfile_serialization=False)
    for name, args in {
        "predict": ["predict", "a.png", "--topk", "3", "--json"],
        "explain": ["explain", "a.jpg", "--method", "gradcam,integrated-gradients", "--steps",
                    "8", "--baseline", "blur", "--target", "auto,3"],
        "demo": ["demo", "--out", "x", "--pointing-images", "5", "--tolerance", "2.5"],
        "train": ["train", "shapes", "--epochs", "2", "--optimizer", "adam", "--lr", "0.01"],
        "bench": ["bench", "--methods", "forward,vanilla", "--batch-size", "2", "--json"],
        "version": ["--version"],
    }.items():
        (SEEDS / "cli" / name).write_text("\n".join(args))


if __name__ == "__main__":
    main()
