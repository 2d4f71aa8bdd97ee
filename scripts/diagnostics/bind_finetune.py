#!/usr/bin/env python3
"""Can an image model's UNet learn to keep each color to its object when the loss asks for it?
(developer tool; torch + diffusers)

Fine-tunes the UNet of a model folder on ground-truth renders with its usual loss (ε or v, min-SNR
weighted, on the renders' own captions) plus a hinge on two-object images of different colors: the
loss with the colors swapped between the objects ("a C2 O1 and a C1 O2") should be at least
`--margin` (relative) above the loss with the right caption ("a C1 O1 and a C2 O2"), at timesteps
where binding can pay off. Half of every batch is such pairs. `--hinge-weight 0` is the control:
the same batches and loss without the hinge (the swap gap is still measured and printed). Saves the
model folder with the new UNet (float32) for binding_swap.py, `lethe generate` and `lethe eval`.
A probe of what the architecture can learn, not a training recipe.

  lethe world render --count 6000 --seed 906 --mode image --scale 1 --out out/bind-train
  python3 scripts/diagnostics/bind_finetune.py --model models/image --images out/bind-train --out out/bind-ft --steps 900
  python3 scripts/diagnostics/binding_swap.py --model out/bind-ft --images out/bind-gt
"""
import argparse
import json
import shutil

import numpy as np
import torch
from video_model import image_model, load_images


def per_sample_error(unet, scheduler, kind, x, noise, t, context):
    """The diffusion loss of each sample: ε or v, mean squared over pixels."""
    noisy = scheduler.add_noise(x, noise, t)
    target = noise if kind == "epsilon" else scheduler.get_velocity(x, noise, t)
    return (unet(noisy, t, encoder_hidden_states=context).sample - target).pow(2).mean(dim=(1, 2, 3))


def min_snr_weight(scheduler, kind, t, gamma):
    """Min-SNR-γ weights (Hang et al. 2023), as the shipped recipes train (`snr_gamma`)."""
    a = scheduler.alphas_cumprod[t]
    snr = a / (1 - a)
    return torch.clamp(snr, max=gamma) / (snr if kind == "epsilon" else snr + 1)


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
    ap.add_argument("--hinge-t", type=int, nargs=2, default=[300, 900], metavar=("MIN", "MAX"),
                    help="draw the hinge samples' timesteps from [MIN, MAX): binding can only pay off where the "
                         "noisy image shows where each object is but not yet its shape")
    ap.add_argument("--main-captions", choices=["keyword", "world"], default="world",
                    help="captions of the usual loss: keyword-only, or the renders' own (synonyms, styles), so "
                         "the fine-tune stays on the training distribution; the hinge always uses keyword ones")
    ap.add_argument("--snr-gamma", type=float, default=5.0, help="min-SNR weighting of the usual loss; 0: none")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    rows = [json.loads(line) for line in open(f"{args.images}/captions.jsonl")]
    x0 = load_images(args.images, rows)
    objs = [[(o["color"], o["object"]) for o in r["labels"]["objects"]] for r in rows]
    right = [" and ".join(f"a {c} {o}" for c, o in ob) for ob in objs]
    main_caption = [r["caption"] for r in rows] if args.main_captions == "world" else right
    swapped = [f"a {ob[1][0]} {ob[0][1]} and a {ob[0][0]} {ob[1][1]}" if len(ob) == 2 and ob[0][0] != ob[1][0] else None
               for ob in objs]

    model = image_model(args.model)
    unet, scheduler, encode = model.unet.train(), model.scheduler, model.context
    kind = scheduler.config.prediction_type

    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    pairs = [i for i, s in enumerate(swapped) if s]
    recent = []
    for step in range(args.steps):
        idx = torch.randint(len(rows), (args.batch,)).tolist()
        # Half of every batch is pairs of different colors, so the hinge always has samples.
        idx[: args.batch // 2] = [pairs[j] for j in torch.randint(len(pairs), (args.batch // 2,)).tolist()]
        x = x0[idx]
        noise = torch.randn_like(x)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(idx),))
        e_right = per_sample_error(unet, scheduler, kind, x, noise, t, encode([main_caption[i] for i in idx]))
        weight = min_snr_weight(scheduler, kind, t, args.snr_gamma) if args.snr_gamma > 0 else torch.ones_like(e_right)
        loss = (weight * e_right).mean()
        # The swap gap is measured in the control too (without gradients), so the two runs compare.
        h = idx[: args.batch // 2]
        th = torch.randint(args.hinge_t[0], args.hinge_t[1], (len(h),))
        xh, nh = x[: len(h)], noise[: len(h)]
        with torch.set_grad_enabled(args.hinge_weight > 0):
            e_kw = per_sample_error(unet, scheduler, kind, xh, nh, th, encode([right[i] for i in h]))
            e_swap = per_sample_error(unet, scheduler, kind, xh, nh, th, encode([swapped[i] for i in h]))
            gap = (e_swap - e_kw) / e_kw.detach()
            hinge = torch.relu(args.margin - gap).mean()
        if args.hinge_weight > 0:
            loss = loss + args.hinge_weight * hinge
        recent.append((e_right.mean().item(), gap.mean().item(), hinge.item()))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        if (step + 1) % 25 == 0 or step == args.steps - 1:
            l, g, hh = np.mean(recent, axis=0)
            print(f"step {step + 1}/{args.steps}: loss {l:.5f}, swap gap {g:+.4f}, hinge {hh:.4f} "
                  f"(means of the last {len(recent)} steps)", flush=True)
            recent = []
    shutil.copytree(args.model, args.out, dirs_exist_ok=True)
    unet.eval().save_pretrained(f"{args.out}/unet")


if __name__ == "__main__":
    main()
