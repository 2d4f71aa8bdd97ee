#!/usr/bin/env python3
"""How much a video model's temporal layers help it denoise ground-truth clips (developer tool).

Renders nothing itself: give it a folder from `lethe world render --scale 1 --gif` (clips and
captions.jsonl). For each training timestep in --timesteps it noises every clip with one fixed
draw and prints the mean squared error of the model's noise prediction in three conditions:
  as is        the clips as rendered;
  reversed     each clip played backwards (same noise), so "moving left" shows a
               rightward motion; a model that knows which way its caption's motion runs finds
               these clips harder than the clips as rendered;
  no temporal  the temporal layers' (or motion modules') output projections zeroed, so every
               frame is denoised alone.
If the temporal layers carry information across frames, "as is" is clearly below "no temporal".
Needs torch, diffusers and transformers (never a runtime dependency of Lethe).

  lethe world render --count 48 --seed 77 --scale 1 --gif --out out/diag-gt
  python3 scripts/diagnostics/temporal_ablation.py --model models/video --clips out/diag-gt
"""
import argparse
import json

import numpy as np
import torch
from PIL import Image, ImageSequence
from video_model import VideoModel, is_temporal


def load_clips(folder):
    captions = [json.loads(line) for line in open(f"{folder}/captions.jsonl")]
    clips = []
    for c in captions:
        gif = Image.open(f"{folder}/" + c["file"].replace(".mp4", ".gif"))
        frames = [np.asarray(f.convert("RGB"), dtype=np.float32) / 127.5 - 1 for f in ImageSequence.Iterator(gif)]
        clips.append(np.stack(frames, 0))
    x0 = torch.tensor(np.stack(clips)).permute(0, 4, 1, 2, 3)  # [N, 3, F, H, W]
    return x0, [c["caption"] for c in captions]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a diffusers folder with a UNet3DConditionModel or UNetMotionModel")
    ap.add_argument("--clips", required=True, help="a `lethe world render --scale 1 --gif` folder")
    ap.add_argument("--timesteps", default="50,200,400,600,800,950")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x0, captions = load_clips(args.clips)
    if x0.shape[-1] != 32:
        print(f"note: frames are {x0.shape[-1]} px; render with --scale 1 for the world's 32 px")
    model = VideoModel(args.model)
    context = model.context(captions, x0.shape[2])
    generator = torch.Generator().manual_seed(args.seed)
    noise = model.noise(x0.shape, generator)
    n = x0.shape[0]
    timesteps = [int(t) for t in args.timesteps.split(",")]

    def errors(reverse):
        out = {}
        clips = x0.flip(2) if reverse else x0
        for t in timesteps:
            tt = torch.full((n,), t)
            xt, target = model.scheduler.add_noise(clips, noise, tt), noise
            pred = model.predict_noise(xt, t, context)
            out[t] = float(((pred - target) ** 2).mean())
        return out

    rows = [("as is", errors(False)), ("reversed", errors(True))]
    state = model.unet.state_dict()
    for key in state:
        if is_temporal(key) and ("proj_out" in key or "conv4.3" in key):
            state[key].zero_()
    model.unet.load_state_dict(state)
    rows.append(("no temporal", errors(False)))
    print(f"{len(captions)} clips; noise-prediction MSE per timestep")
    print("| condition | " + " | ".join(f"t={t}" for t in timesteps) + " |")
    print("|---|" + "---|" * len(timesteps))
    for name, e in rows:
        print(f"| {name} | " + " | ".join(f"{e[t]:.4f}" for t in timesteps) + " |")


if __name__ == "__main__":
    main()
