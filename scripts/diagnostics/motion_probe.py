#!/usr/bin/env python3
"""Does a video model put a moving object where its caption says, at the noisy end? (developer tool)

A sample's layout and a clip's motion are decided in the first, noisiest sampling steps, from the
model's prediction of the clean clip there, x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar). This tool
feeds pure noise at a few noisy timesteps with captions "a red OBJECT moving DIRECTION", averages
the predicted clean clips over draws and objects, and follows the red object: per frame, the
centroid of redness (R - (G + B)/2, clipped at 0) along the motion's axis. It prints how far that
centroid travels from the first frame to the last, signed so that a move the caption asks for is
positive. The reference row measures the same on ground-truth renders with such captions (a
`lethe world render --scale 1 --gif` folder): what the average clean clip the model should predict
from noise alone looks like. A model whose noisy-end prediction ignores the caption's motion shows
travel near 0 at every timestep, and its samples then start from a still layout. A second table
checks that the caption's motion reaches the UNet at all: with the same noise, the rms difference of
the predicted clean clips between "moving left" and "moving right", beside that between two objects.
Needs torch, diffusers and transformers (never a runtime dependency of Lethe).

  lethe world render --count 1500 --seed 901 --scale 1 --gif --out out/probe-gt
  python3 scripts/diagnostics/motion_probe.py --model models/video --clips out/probe-gt
  python3 scripts/diagnostics/motion_probe.py --model out/pretrain/video-noisy-end-all --clips out/probe-gt \
      --checkpoint out/pretrain/video-long.checkpoint.safetensors    # a run in progress
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image, ImageSequence
from video_model import VideoModel

DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}  # (axis: 0 = x, 1 = y; sign)
OBJECTS = ["circle", "square", "triangle", "diamond"]


def travel(clips):
    """clips: [N, 3, F, H, W] in [-1, 1]. Per axis, centroid(last frame) - centroid(first) of the
    mean redness over clips."""
    red = (clips[:, 0] - 0.5 * (clips[:, 1] + clips[:, 2])).clamp(min=0).mean(0)  # [F, H, W]
    h, w = red.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(float(h)), torch.arange(float(w)), indexing="ij")
    mass = red.sum((1, 2)).clamp(min=1e-8)
    cx, cy = (red * xs).sum((1, 2)) / mass, (red * ys).sum((1, 2)) / mass
    return [float(cx[-1] - cx[0]), float(cy[-1] - cy[0])]


def reference(folder):
    rows = {d: [] for d in DIRECTIONS}
    for line in open(f"{folder}/captions.jsonl"):
        c = json.loads(line)
        objects, motion = c["labels"]["objects"], c["labels"]["motion"]
        if len(objects) == 1 and objects[0]["color"] == "red" and motion in DIRECTIONS:
            gif = Image.open(f"{folder}/" + c["file"].replace(".mp4", ".gif"))
            frames = [np.asarray(f.convert("RGB"), dtype=np.float32) / 127.5 - 1 for f in ImageSequence.Iterator(gif)]
            rows[motion].append(np.stack(frames, 0))
    out = {}
    for d, clips in rows.items():
        if not clips:
            raise SystemExit(f"{folder}: no single red object moving {d}; render more clips (--count)")
        x = torch.tensor(np.stack(clips)).permute(0, 4, 1, 2, 3)
        if x.shape[-1] != 32:
            raise SystemExit(f"{folder}: frames are {x.shape[-1]} px; render with --scale 1")
        axis, sign = DIRECTIONS[d]
        out[d] = (sign * travel(x)[axis], len(clips))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a diffusers folder with a UNet3DConditionModel or UNetMotionModel")
    ap.add_argument("--checkpoint", help="a `lethe train` checkpoint of a run on --model's UNet: probe its EMA weights")
    ap.add_argument("--clips", required=True, help="a `lethe world render --scale 1 --gif` folder (the reference)")
    ap.add_argument("--timesteps", default="980,900,800,700")
    ap.add_argument("--draws", type=int, default=4, help="noise draws per object and direction")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ref = reference(args.clips)
    model = VideoModel(args.model, args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    timesteps = [int(t) for t in args.timesteps.split(",")]

    print(f"travel of the red object's centroid, first frame to last, px (+: the way the caption asks); "
          f"{len(OBJECTS)} objects x {args.draws} draws")
    print(f"| | " + " | ".join(DIRECTIONS) + " |")
    print("|---|" + "---|" * len(DIRECTIONS))
    print("| ground truth (" + ", ".join(f"{n}" for _, n in ref.values()) + " clips) | "
          + " | ".join(f"{v:+.1f}" for v, _ in ref.values()) + " |")
    for t in timesteps:
        cells = []
        for d, (axis, sign) in DIRECTIONS.items():
            captions = [f"a red {o} moving {d}" for o in OBJECTS for _ in range(args.draws)]
            xt = model.noise((len(captions), 3, 8, 32, 32), generator)
            x0 = model.predict_clean(xt, t, captions).clamp(-1, 1)
            cells.append(sign * travel(x0)[axis])
        print(f"| model, t = {t} | " + " | ".join(f"{v:+.1f}" for v in cells) + " |", flush=True)

    print(f"\nrms difference of the predicted clean clips, same noise ({args.draws} draws)")
    print("| t | moving left / moving right (red circle) | circle / square (red, moving left) |")
    print("|---|---|---|")
    for t in timesteps:
        xt = model.noise((args.draws, 3, 8, 32, 32), generator)
        left, right, square = (model.predict_clean(xt, t, [c] * args.draws) for c in
                               ["a red circle moving left", "a red circle moving right", "a red square moving left"])
        rms = lambda a, b: float((a - b).pow(2).mean().sqrt())
        print(f"| {t} | {rms(left, right):.3f} | {rms(left, square):.3f} |", flush=True)


if __name__ == "__main__":
    main()
