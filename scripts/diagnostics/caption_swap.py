#!/usr/bin/env python3
"""Does a video model use the direction its caption names when it denoises? (developer tool)

For single-object ground-truth clips moving left, right, up or down, the tool noises each clip to
a timestep and has the model predict the clean clip twice from the same noisy clip: captioned with
the direction the clip moves ("a red circle moving left") and with the opposite one ("... moving
right"); the captions differ in that word alone. It prints, per timestep, the mean squared error of
both predictions against the clean clip and their ratio, opposite / right. A model that has tied
the words to a direction in time predicts the clip better with the right word, most of all at the
noisy end, where the noisy clip says least about where the object goes: the ratio is above 1. A
ratio of 1 means the direction word is ignored; below 1, it is read backwards.

Where the temporal ablation plays clips backwards (with their world captions), this compares the
caption's direction alone, in clean-clip terms, so the noisy end is not hidden behind an
ε-error that shrinks with the SNR. Needs torch, diffusers and transformers (never a runtime
dependency of Lethe).

  lethe world render --count 1500 --seed 901 --scale 1 --gif --out out/probe-gt
  python3 scripts/diagnostics/caption_swap.py --model models/video --clips out/probe-gt
"""
import argparse
import json

import torch
from temporal_ablation import load_clips
from video_model import VideoModel

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a diffusers folder with a UNet3DConditionModel or UNetMotionModel")
    ap.add_argument("--checkpoint", help="a `lethe train` checkpoint of a run on --model's UNet: use its EMA weights")
    ap.add_argument("--clips", required=True, help="a `lethe world render --scale 1 --gif` folder")
    ap.add_argument("--count", type=int, default=96, help="clips used (the first single-object directional ones)")
    ap.add_argument("--timesteps", default="950,900,800,700,500,300")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per clip and timestep")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)

    rows = [json.loads(line) for line in open(f"{args.clips}/captions.jsonl")]
    chosen = [i for i, r in enumerate(rows)
              if r["labels"]["motion"] in OPPOSITE and len(r["labels"]["objects"]) == 1][:args.count]
    if not chosen:
        raise SystemExit(f"{args.clips}: no single-object clip moving left, right, up or down")
    x0, _ = load_clips(args.clips)
    x0 = x0[chosen]
    if x0.shape[-1] != 32:
        raise SystemExit(f"{args.clips}: frames are {x0.shape[-1]} px; render with --scale 1")
    motions = [rows[i]["labels"]["motion"] for i in chosen]
    objects = [rows[i]["labels"]["objects"][0] for i in chosen]
    right = [f"a {o['color']} {o['object']} moving {m}" for o, m in zip(objects, motions)]
    wrong = [f"a {o['color']} {o['object']} moving {OPPOSITE[m]}" for o, m in zip(objects, motions)]

    model = VideoModel(args.model, checkpoint=args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"{len(chosen)} single-object directional clips, {args.draws} noise draws each; "
          "x0 mean squared error with the direction the clip moves and with the opposite one")
    print("| t | right direction | opposite direction | opposite / right |")
    print("|---|---|---|---|")
    batch = 16
    for t in [int(s) for s in args.timesteps.split(",")]:
        err_right = err_wrong = 0.0
        for _ in range(args.draws):
            noisy = model.scheduler.add_noise(x0, model.noise(x0.shape, generator), torch.tensor([t]))
            for b in range(0, len(chosen), batch):
                part = slice(b, b + batch)
                err_right += (model.predict_clean(noisy[part], t, right[part]) - x0[part]).pow(2).sum().item()
                err_wrong += (model.predict_clean(noisy[part], t, wrong[part]) - x0[part]).pow(2).sum().item()
        n = args.draws * x0.numel()
        print(f"| {t} | {err_right / n:.5f} | {err_wrong / n:.5f} | {err_wrong / err_right:.4f} |", flush=True)


if __name__ == "__main__":
    main()
