#!/usr/bin/env python3
"""Can an image model's UNet learn to keep each color to its object when the loss asks for it?
(developer tool; torch + diffusers)

Fine-tunes the UNet of a model folder on ground-truth renders with its usual loss (ε or v, min-SNR
is not used here) plus a hinge on two-object images of different colors: the loss with the colors
swapped between the objects ("a C2 O1 and a C1 O2") should be at least `--margin` (relative) above
the loss with the right caption ("a C1 O1 and a C2 O2"). Captions are keyword-only ("a C O", "a C1
O1 and a C2 O2"). Saves the model folder with the new UNet (float32) for binding_swap.py and
`lethe generate`. A probe of what the architecture can learn, not a training recipe.

  lethe world render --count 3000 --seed 906 --mode image --scale 1 --out out/bind-train
  python3 scripts/diagnostics/bind_finetune.py --model models/image --images out/bind-train --out out/bind-ft
  python3 scripts/diagnostics/binding_swap.py --model out/bind-ft --images out/bind-gt
"""
import argparse
import json
import shutil

import numpy as np
import torch
from PIL import Image
from video_model import VideoModel


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--hinge-weight", type=float, default=1.0, help="0: the control, plain fine-tuning")
    ap.add_argument("--margin", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    rows = [json.loads(line) for line in open(f"{args.images}/captions.jsonl")]
    x0 = torch.tensor(np.stack([np.asarray(Image.open(f"{args.images}/{r['file']}").convert("RGB"), dtype=np.float32)
                                / 127.5 - 1 for r in rows])).permute(0, 3, 1, 2)
    objs = [[(o["color"], o["object"]) for o in r["labels"]["objects"]] for r in rows]
    right = [" and ".join(f"a {c} {o}" for c, o in ob) for ob in objs]
    swapped = [f"a {ob[1][0]} {ob[0][1]} and a {ob[0][0]} {ob[1][1]}" if len(ob) == 2 and ob[0][0] != ob[1][0] else None
               for ob in objs]

    model = VideoModel(args.model)
    if model.unet.__class__.__name__ != "UNet2DConditionModel":
        raise SystemExit(f"{args.model}: expected an image model (UNet2DConditionModel), found {model.unet.__class__.__name__}")
    unet, scheduler, encode = model.unet.train(), model.scheduler, model.context
    kind = scheduler.config.prediction_type

    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    pairs = [i for i, s in enumerate(swapped) if s]
    for step in range(args.steps):
        idx = torch.randint(len(rows), (args.batch,)).tolist()
        # Half of every batch is pairs of different colors, so the hinge always has samples.
        idx[: args.batch // 2] = [pairs[j] for j in torch.randint(len(pairs), (args.batch // 2,)).tolist()]
        x = x0[idx]
        noise = torch.randn_like(x)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),))
        noisy = scheduler.add_noise(x, noise, t)
        target = noise if kind == "epsilon" else scheduler.get_velocity(x, noise, t)
        def per(out, part=slice(None)):
            return (out - target[part]).pow(2).mean(dim=(1, 2, 3))

        e_right = per(unet(noisy, t, encoder_hidden_states=encode([right[i] for i in idx])).sample)
        loss = e_right.mean()
        hinge = torch.tensor(0.0)
        if args.hinge_weight > 0:
            h = slice(0, args.batch // 2)
            e_swap = per(unet(noisy[h], t[h], encoder_hidden_states=encode([swapped[i] for i in idx[h]])).sample, h)
            gap = (e_swap - e_right[h]) / e_right[h].detach()
            hinge = torch.relu(args.margin - gap).mean()
            loss = loss + args.hinge_weight * hinge
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {e_right.mean().item():.5f}, hinge {hinge.item():.4f}", flush=True)
    shutil.copytree(args.model, args.out, dirs_exist_ok=True)
    unet.eval().save_pretrained(f"{args.out}/unet")


if __name__ == "__main__":
    main()
