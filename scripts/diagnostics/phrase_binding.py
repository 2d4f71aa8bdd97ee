#!/usr/bin/env python3
"""Does a text encoder keep each object's words to that object? (developer tool)

In a two-object caption, "a C1 S1 and a C2 S2", a UNet that cross-attends to the second phrase's
tokens can only draw C2 if those tokens carry C2. A causal encoder lets later tokens see earlier
ones, and nothing in an end-of-text objective stops them from carrying the first object instead.
The tool prints two measures over random pairs of the world's keywords:
- how far the state of the second noun (S2) moves when its own color changes (C2 → C3) and when
  the first object's color changes (C1 → C3); a bound encoder moves more with its own;
- for the second color word (C2), which one-object color state ("a C star", the color token) it
  is nearest by cosine: its own color or the first object's.
Needs torch and transformers (never a runtime dependency of Lethe).

  python3 scripts/diagnostics/phrase_binding.py --model models/image
  python3 scripts/diagnostics/phrase_binding.py --model out/pretrain/text-phrases
"""
import argparse
import random
import statistics

import torch
from transformers import CLIPTextModel, CLIPTokenizer

COLORS = ["red", "blue", "green", "yellow", "purple", "orange"]
SHAPES = ["star", "circle", "square", "heart", "cross", "triangle"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a folder with tokenizer/ and text_encoder/")
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tokenizer = CLIPTokenizer.from_pretrained(f"{args.model}/tokenizer")
    encoder = CLIPTextModel.from_pretrained(f"{args.model}/text_encoder").eval()
    length = tokenizer.model_max_length

    def encode(text):
        ids = tokenizer(text, padding="max_length", max_length=length, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            return ids[0].tolist(), encoder(ids).last_hidden_state[0]

    def state(text, word, nth=0):
        ids, hidden = encode(text)
        token = tokenizer.convert_tokens_to_ids(word + "</w>")
        return hidden[[i for i, t in enumerate(ids) if t == token][nth]]

    rng = random.Random(args.seed)
    own, other = [], []
    for _ in range(args.pairs):
        c1, c2, c3 = rng.sample(COLORS, 3)
        s1, s2 = rng.sample(SHAPES, 2)
        base = state(f"a {c1} {s1} and a {c2} {s2}", s2)
        own.append((base - state(f"a {c1} {s1} and a {c3} {s2}", s2)).norm().item())
        other.append((base - state(f"a {c3} {s1} and a {c2} {s2}", s2)).norm().item())
    print(f"second noun's state moves {statistics.mean(own):.2f} when its own color changes, "
          f"{statistics.mean(other):.2f} when the first object's does")

    references = {c: state(f"a {c} star", c) for c in COLORS}
    nearest_own = nearest_first = 0
    for _ in range(args.pairs):
        c1, c2 = rng.sample(COLORS, 2)
        s1, s2 = rng.sample(SHAPES, 2)
        h = state(f"a {c1} {s1} and a {c2} {s2}", c2)
        best = max(COLORS, key=lambda c: torch.cosine_similarity(h, references[c], dim=0).item())
        nearest_own += best == c2
        nearest_first += best == c1
    print(f"second color word nearest its own color's one-object state in {nearest_own}/{args.pairs} pairs, "
          f"the first object's in {nearest_first}/{args.pairs}")


if __name__ == "__main__":
    main()
