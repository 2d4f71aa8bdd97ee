#!/usr/bin/env python3
"""Where an image model puts the two objects of a pair, and whether it keeps their colors apart
(developer tool; numpy and safetensors, runs the release `lethe`).

Draws six two-object prompts with flat colors ("a red star and a blue circle", the same swapped,
and two more pairs) for seeds 0..N-1 with `lethe generate`, then finds each named color's pixels
(within 0.25 of the world's ink, more than 8 of them) and prints:
  - both colors: images in which both named colors show (when one is missing, both objects took
    one color or one object was left out);
  - reading order: of those, how many put the first-named color's centroid left of or above the
    second's. Training pairs with `pairs_in_reading_order: true` always do; the v1 world places a
    pair in two halves at random, which such images match about 3 times in 4 (a diagonal pair
    fits one of the two layouts), so a model that learned the convention scores near 100%.

  python3 scripts/diagnostics/pair_placement.py --model models/image --seeds 24 [--guidance 2.0]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from safetensors.numpy import load_file

PAIRS = [("red", "star", "blue", "circle"), ("green", "square", "yellow", "heart"), ("red", "cross", "blue", "triangle")]
INK = {"red": (0.90, 0.10, 0.10), "yellow": (0.95, 0.85, 0.10), "green": (0.10, 0.70, 0.15), "blue": (0.10, 0.25, 0.95)}


def prompts():
    for c1, o1, c2, o2 in PAIRS:
        yield (c1, c2), f"a {c1} {o1} and a {c2} {o2}"
        yield (c2, c1), f"a {c2} {o2} and a {c1} {o1}"


def load_single_tensor(path):
    tensors = load_file(path)
    if len(tensors) != 1:
        raise SystemExit(f"{path}: expected the one tensor `lethe generate --out X.safetensors` writes, found {len(tensors)}")
    tensor = next(iter(tensors.values()))
    if tensor.dtype != np.float32:
        raise SystemExit(f"{path}: expected the float32 tensor `lethe generate` writes, found {tensor.dtype}")
    return tensor


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--guidance", default="2.0")
    ap.add_argument("--lethe", default=".build/release/lethe")
    args = ap.parse_args()
    cases = list(prompts())
    both = ordered = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            out = os.path.join(tmp, f"{seed}.safetensors")
            cmd = [args.lethe, "generate", "--model", args.model, "--guidance", args.guidance, "--seed", str(seed), "--out", out]
            for _, text in cases:
                cmd += ["--prompt", text]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            images = load_single_tensor(out)
            if images.ndim != 4 or images.shape[1] != 3:
                raise SystemExit(f"{args.model}: expected images [N, 3, H, W] (an image model), found {list(images.shape)}")
            for ((first, second), _), image in zip(cases, images):
                rgb = (image.transpose(1, 2, 0) + 1) / 2
                masks = [np.linalg.norm(rgb - np.array(INK[c]), axis=2) < 0.25 for c in (first, second)]
                total += 1
                if min(m.sum() for m in masks) <= 8:
                    continue
                both += 1
                (y1, x1), (y2, x2) = (np.argwhere(m).mean(0) for m in masks)
                ordered += bool(x2 > x1 or y2 > y1)
    print(f"{args.model}: both colors in {both} of {total} images; first-named left of or above the "
          f"second in {ordered} of {both} ({100 * ordered / max(both, 1):.0f}%)")


if __name__ == "__main__":
    main()
