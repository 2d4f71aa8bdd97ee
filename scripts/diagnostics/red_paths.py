#!/usr/bin/env python3
"""The red object's path in clips that `lethe generate` wrote as .safetensors (developer tool).

Prints, per clip of the batch (in prompt order), the redness centroid's x and y per frame
(redness.py). With prompts "a red OBJECT moving DIRECTION", a path that runs the asked way shows
the motion was drawn; a still or V-shaped one shows it was not.

  lethe generate --model models/video --prompt "a red circle moving down" --seed 1 --out x.safetensors
  python3 scripts/diagnostics/red_paths.py x.safetensors
"""
import sys

from redness import centroids
from safetensors.torch import load_file


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for path in sys.argv[1:]:
        tensors = load_file(path)
        if len(tensors) != 1:
            raise SystemExit(f"{path}: expected the one tensor `lethe generate --out X.safetensors` writes, found {len(tensors)}")
        clips = next(iter(tensors.values())).float().clamp(-1, 1)
        if clips.dim() != 5 or clips.shape[1] != 3:
            raise SystemExit(f"{path}: expected clips [N, 3, F, H, W], found {list(clips.shape)}")
        for i, path_xy in enumerate(centroids(clips)):
            for axis, name in ((0, "x"), (1, "y")):
                print(f"{path} clip {i} {name}:", " ".join(f"{float(v):5.1f}" for v in path_xy[:, axis]))


if __name__ == "__main__":
    main()
