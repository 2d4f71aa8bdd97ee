#!/usr/bin/env python3
"""Does an image model keep each color to its own object when it denoises? (developer tool)

For ground-truth images of two objects of different colors, the tool noises each image to a
timestep and has the model predict the clean image from the same noisy image under four captions:
  right       "a C1 O1 and a C2 O2", the colors and objects as drawn;
  reordered   "a C2 O2 and a C1 O1", the same pairs named in the other order;
  swapped     "a C2 O1 and a C1 O2", the same words, each color given to the other object;
  wrong       "a C3 O1 and a C4 O2", two colors that are not in the image.
It prints, per timestep, the mean squared error of each prediction against the clean image,
divided by the error with the right caption. `wrong` says how much the colors matter at all;
`swapped` how much it matters which object each color belongs to. A model that binds colors to
objects predicts worse with the colors swapped, most of all at the noisy end, where the noisy image
says least; a swapped ratio near 1 while the wrong one is well above 1 means it reads the colors
as a bag of words. `reordered` should stay near 1 (the binding is the same).

Needs torch, diffusers and transformers (never a runtime dependency of Lethe).

  lethe world render --count 400 --seed 905 --mode image --scale 1 --out out/bind-gt
  python3 scripts/diagnostics/binding_swap.py --model models/image --images out/bind-gt
"""
import random

import torch
from video_model import image_model, load_color_pairs, pair_arguments

COLORS = ["red", "orange", "yellow", "green", "cyan", "blue", "purple", "pink"]


def main():
    args = pair_arguments(__doc__.split("\n")[0]).parse_args()
    torch.set_num_threads(2)
    pairs, x0 = load_color_pairs(args.images)
    unknown = {o["color"] for r in pairs for o in r["labels"]["objects"]} - set(COLORS)
    if unknown:
        raise SystemExit(f"{args.images}: colors {sorted(unknown)} are not the world's keywords {COLORS}")

    rng = random.Random(args.seed)
    captions = {"right": [], "reordered": [], "swapped": [], "wrong": []}
    for r in pairs:
        (o1, c1), (o2, c2) = ((o["object"], o["color"]) for o in r["labels"]["objects"])
        c3, c4 = rng.sample([c for c in COLORS if c not in (c1, c2)], 2)
        captions["right"].append(f"a {c1} {o1} and a {c2} {o2}")
        captions["reordered"].append(f"a {c2} {o2} and a {c1} {o1}")
        captions["swapped"].append(f"a {c2} {o1} and a {c1} {o2}")
        captions["wrong"].append(f"a {c3} {o1} and a {c4} {o2}")

    model = image_model(args.model)

    generator = torch.Generator().manual_seed(args.seed)
    print(f"{args.model}: {len(pairs)} two-object images, {args.draws} noise draws each; x0 mean squared "
          "error with the right caption, and each other caption's error divided by it")
    print("| t | right | reordered / right | swapped / right | wrong / right |")
    print("|---|---|---|---|---|")
    batch = 32
    for t in [int(s) for s in args.timesteps.split(",")]:
        err = dict.fromkeys(captions, 0.0)
        for _ in range(args.draws):
            noisy = model.scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator), torch.tensor([t]))
            for b in range(0, len(pairs), batch):
                part = slice(b, b + batch)
                for k, texts in captions.items():
                    err[k] += (model.predict_clean(noisy[part], t, texts[part]) - x0[part]).pow(2).sum().item()
        r = err["right"]
        print(f"| {t} | {r / (args.draws * x0.numel()):.5f} | {err['reordered'] / r:.4f} | "
              f"{err['swapped'] / r:.4f} | {err['wrong'] / r:.4f} |", flush=True)


if __name__ == "__main__":
    main()
