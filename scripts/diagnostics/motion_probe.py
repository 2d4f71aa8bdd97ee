#!/usr/bin/env python3
"""Do a video model's sampled clips move the way their captions ask? (developer tool)

The tool samples clips for captions "a red OBJECT moving DIRECTION" (4 objects x --draws noise
draws per direction; DDIM and guidance as `lethe eval` samples) and follows the red object in each:
per frame, the centroid of redness (R - (G + B)/2, clipped at 0) along the motion's axis. Per
direction it prints the mean travel from the first frame to the last, signed so that a move the
caption asks for is positive, and the share of clips that travel at least 4 px that way (a quarter
of the world's 12 to 16 px). The reference row measures the same on ground-truth renders with such
captions (a `lethe world render --scale 1 --gif` folder). A model that draws still or V-shaped clips
shows a travel near 0. A second table checks that the caption's motion reaches the UNet at all:
at a few noisy timesteps, with the same pure noise, the rms difference of the predicted clean clips
between "moving left" and "moving right", beside that between two objects.

Why sampled paths, not the clean clip predicted from noise: an earlier version of this tool read
travel off x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) at t = 980..700. There the division by
sqrt(abar) (0.03 at t = 980) blows the noise prediction's error up to the whole range, and at
t = 700 pure noise is not what the UNet sees in sampling, so that travel stayed near 0 even for a
model that samples clips running the caption's way (overfit_motion.py --save, 4 of 6 paths).
Needs torch, diffusers and transformers (never a runtime dependency of Lethe).

  lethe world render --count 1500 --seed 901 --scale 1 --gif --out out/probe-gt
  python3 scripts/diagnostics/motion_probe.py --model models/video --clips out/probe-gt
  python3 scripts/diagnostics/motion_probe.py --model out/pretrain/video-noisy-end-all --clips out/probe-gt \\
      --checkpoint out/pretrain/video-long.checkpoint.safetensors    # a run in progress
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image, ImageSequence
from redness import centroids
from video_model import VideoModel

DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (1, -1), "down": (1, 1)}  # (axis: 0 = x, 1 = y; sign)
OBJECTS = ["circle", "square", "triangle", "diamond"]


MIN_TRAVEL = 4.0  # px the caption's way for a clip to count as moving that way


def travel(clips, direction):
    """Each clip's travel first frame -> last along the direction's axis, + the way it names: [N]."""
    axis, sign = DIRECTIONS[direction]
    c = centroids(clips)
    return sign * (c[:, -1, axis] - c[:, 0, axis])


def summary(moves):
    return f"{float(moves.mean()):+.1f} px, {float((moves >= MIN_TRAVEL).float().mean()) * 100:.0f}%"


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
        out[d] = travel(x, d)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a diffusers folder with a UNet3DConditionModel or UNetMotionModel")
    ap.add_argument("--checkpoint", help="a `lethe train` checkpoint of a run on --model's UNet: probe its EMA weights")
    ap.add_argument("--clips", required=True, help="a `lethe world render --scale 1 --gif` folder (the reference)")
    ap.add_argument("--timesteps", default="980,900,800,700", help="for the second table")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per object and direction")
    ap.add_argument("--steps", type=int, default=25, help="DDIM steps")
    ap.add_argument("--guidance", type=float, default=2.5, help="classifier-free guidance (lethe eval's default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ref = reference(args.clips)
    model = VideoModel(args.model, args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    timesteps = [int(t) for t in args.timesteps.split(",")]

    print(f"sampled clips: mean travel of the red object's centroid, first frame to last (+: the way the caption "
          f"asks), and the share of clips that travel >= {MIN_TRAVEL:.0f} px that way; {len(OBJECTS)} objects x "
          f"{args.draws} draws, DDIM {args.steps}, guidance {args.guidance}")
    print("| | " + " | ".join(DIRECTIONS) + " |")
    print("|---|" + "---|" * len(DIRECTIONS))
    print("| ground truth (" + ", ".join(str(len(m)) for m in ref.values()) + " clips) | "
          + " | ".join(summary(m) for m in ref.values()) + " |")
    cells = []
    for d in DIRECTIONS:
        captions = [f"a red {o} moving {d}" for o in OBJECTS for _ in range(args.draws)]
        cells.append(summary(travel(model.sample(captions, generator, args.steps, args.guidance).clamp(-1, 1), d)))
    print("| model | " + " | ".join(cells) + " |", flush=True)

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
