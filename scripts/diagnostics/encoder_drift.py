#!/usr/bin/env python3
"""How far did an erasure move the text encoder's output, on prompts that name the erased concept
and on prompts that do not? (developer tool, numpy only)

An erasure trained on the image model changes the encoder every model sharing it reads. What the
video model draws for "a green striped circle moving left" after erasing diamond depends only on
how far that caption's encoder output moved. This runs the CLIP text model of two model folders
(the original and the erased, numpy, float32) on the clip prompts of a prompt set and prints the
mean relative change ‖E'(p) − E(p)‖ / ‖E(p)‖ of the last hidden state, over all 16 positions,
for the prompts naming the concept (target) and for the others, split by whether they name
another concept of the same family (in-domain) or not. It takes seconds, where a video eval of
the same recipe takes half an hour; it is a proxy for comparing recipes, not a retention figure.

  python3 scripts/diagnostics/encoder_drift.py --original models/image --erased out/x/erased \
      --concept diamond --family object
"""
import argparse
import json
import re
import struct

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F16": np.float16, "F32": np.float32}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=dtypes[info["dtype"]]).reshape(info["shape"]).astype(np.float32)
    return out


class Tokenizer:
    """CLIP's BPE for the world's lower-case ASCII captions (no byte fallback needed for them)."""

    def __init__(self, folder):
        self.vocab = json.load(open(f"{folder}/vocab.json"))
        lines = open(f"{folder}/merges.txt").read().split("\n")[1:]
        self.rank = {tuple(l.split()): i for i, l in enumerate(lines) if l.strip()}
        config = json.load(open(f"{folder}/tokenizer_config.json"))
        self.length = config.get("model_max_length", 77)
        self.bos, self.eos = self.vocab["<|startoftext|>"], self.vocab["<|endoftext|>"]

    def bpe(self, word):
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            r, i = min((self.rank.get((parts[i], parts[i + 1]), float("inf")), i) for i in range(len(parts) - 1))
            if r == float("inf"):
                break
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:]
        return parts

    def __call__(self, text):
        words = re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", " ".join(text.lower().split()))
        ids = [self.vocab[p] for w in words for p in self.bpe(w)][: self.length - 2]
        ids = [self.bos] + ids + [self.eos]
        return ids + [self.eos] * (self.length - len(ids))


def layer_norm(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def encode(folder, ids):
    """CLIPTextModel's last_hidden_state for a batch of token ids [B, L]."""
    cfg = json.load(open(f"{folder}/text_encoder/config.json"))
    w = load_safetensors(f"{folder}/text_encoder/model.safetensors")
    p = "text_model."
    eps, heads = cfg["layer_norm_eps"], cfg["num_attention_heads"]
    ids = np.asarray(ids)
    x = w[p + "embeddings.token_embedding.weight"][ids] + w[p + "embeddings.position_embedding.weight"][: ids.shape[1]]
    B, L, D = x.shape
    mask = np.triu(np.full((L, L), -np.inf, dtype=np.float32), 1)
    for i in range(cfg["num_hidden_layers"]):
        q = f"{p}encoder.layers.{i}."
        h = layer_norm(x, w[q + "layer_norm1.weight"], w[q + "layer_norm1.bias"], eps)
        proj = lambda name: (h @ w[q + f"self_attn.{name}.weight"].T + w[q + f"self_attn.{name}.bias"]).reshape(B, L, heads, -1).transpose(0, 2, 1, 3)
        qh, kh, vh = proj("q_proj"), proj("k_proj"), proj("v_proj")
        s = qh @ kh.transpose(0, 1, 3, 2) / np.sqrt(qh.shape[-1]) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ vh).transpose(0, 2, 1, 3).reshape(B, L, D)
        x = x + a @ w[q + "self_attn.out_proj.weight"].T + w[q + "self_attn.out_proj.bias"]
        h = layer_norm(x, w[q + "layer_norm2.weight"], w[q + "layer_norm2.bias"], eps)
        h = h @ w[q + "mlp.fc1.weight"].T + w[q + "mlp.fc1.bias"]
        h = h / (1 + np.exp(-1.702 * h))  # quick_gelu
        x = x + h @ w[q + "mlp.fc2.weight"].T + w[q + "mlp.fc2.bias"]
    return layer_norm(x, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"], eps)


def names(entry, family):
    first = [entry.get(family)]
    second = entry.get("second") or {}
    return [c for c in first + [second.get(family)] if c]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--original", required=True, help="the model folder erased from")
    ap.add_argument("--erased", required=True, nargs="+", help="erased model folders (or their parent with text_encoder/)")
    ap.add_argument("--concept", required=True, help="the erased world concept (its key name, e.g. diamond)")
    ap.add_argument("--family", required=True, choices=["object", "color", "style", "motion"])
    ap.add_argument("--prompts", default="configs/prompts/v1/eval.jsonl")
    ap.add_argument("--kind", default="clip", help="prompt kind to use: clip, image or all")
    args = ap.parse_args()

    entries = [json.loads(l) for l in open(args.prompts) if l.strip()]
    entries = [e for e in entries if args.kind == "all" or e["kind"] == args.kind]
    groups = {"target": [], "in-domain": [], "other": []}
    for e in entries:
        named = names(e, args.family)
        groups["target" if args.concept in named else "in-domain" if named else "other"].append(e["prompt"])
    tok = Tokenizer(f"{args.original}/tokenizer")
    base = {g: encode(args.original, [tok(t) for t in texts]) for g, texts in groups.items() if texts}
    print(f"{'model':<48} " + " ".join(f"{g + f' ({len(groups[g])})':>18}" for g in base))
    for folder in args.erased:
        cells = []
        for g, texts in groups.items():
            if not texts:
                continue
            e = encode(folder, [tok(t) for t in texts])
            rel = np.linalg.norm((e - base[g]).reshape(len(texts), -1), axis=1) / np.linalg.norm(base[g].reshape(len(texts), -1), axis=1)
            cells.append(f"{rel.mean():>18.4f}")
        print(f"{folder:<48} " + " ".join(cells))


if __name__ == "__main__":
    main()
