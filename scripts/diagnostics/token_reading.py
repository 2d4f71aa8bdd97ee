#!/usr/bin/env python3
"""Where does an image model's UNet read its caption: the words, or the end-of-text summary? (developer tool)

Lethe's text encoder is causal, like CLIP's, and was pretrained through heads on its end-of-text
state, so that state (and every padding state after it, which sees the whole caption too) is a
summary of which concepts the caption names, a bag of words with no order. A UNet that reads the
caption mostly there cannot tell which color belongs to which object. The tool measures it twice
on ground-truth images of two objects of different colors, captioned "a C1 O1 and a C2 O2":

1. Attention: the share of cross-attention each layer gives the start token, the caption's words,
   the end-of-text token and the padding after it (mean over heads, pixels and images).
2. Splicing: the model predicts the clean image from the same noisy image with text contexts
   spliced from two captions, position by position; both captions have the same number of tokens,
   so the positions line up. Each error is divided by the error with the right caption:
     swapped            every state from "a C2 O1 and a C1 O2" (the colors exchanged);
     swapped words      the words' states from the swapped caption, the summary's from the right one;
     swapped summary    the words' states from the right caption, the summary's from the swapped one;
     no summary         the summary's states (end of text and padding) from the empty caption;
     no words           the words' states from the empty caption;
     swapped words, no summary
                        the swapped caption's words and the empty caption's summary, to be read
                        against "no summary": whether the words alone bind.
   If the UNet reads the words, "no words" costs a lot and "no summary" little; if it reads the
   summary, the other way round.

Needs torch, diffusers and transformers (never a runtime dependency of Lethe).

  lethe world render --count 400 --seed 905 --mode image --scale 1 --out out/bind-gt
  python3 scripts/diagnostics/token_reading.py --model models/image --images out/bind-gt
"""
import torch
from video_model import image_model, load_color_pairs, pair_arguments

SPANS = ("start", "words", "end of text", "padding")


class AttentionShares:
    """A cross-attention processor that computes what diffusers' AttnProcessor computes for a
    transformer block's attn2 and adds up the attention each token span receives."""

    def __init__(self, spans):
        self.spans = spans  # [N, T] long: the span index of every token position in the batch
        self.total = {}

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **_):
        q = attn.head_to_batch_dim(attn.to_q(hidden_states))
        k = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        v = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(q, k, None)  # [N*heads, pixels, T]
        n = hidden_states.shape[0]
        per_token = probs.reshape(n, attn.heads, -1, probs.shape[-1]).mean(dim=(1, 2))  # [N, T]
        shares = torch.zeros(n, len(SPANS)).scatter_add_(1, self.spans, per_token)
        key = id(attn)
        self.total[key] = self.total.get(key, 0) + shares.sum(0)
        out = attn.batch_to_head_dim(torch.bmm(probs, v))
        return attn.to_out[1](attn.to_out[0](out))


def main():
    args = pair_arguments(__doc__.split("\n")[0]).parse_args()
    torch.set_num_threads(2)
    pairs, x0 = load_color_pairs(args.images)
    right, swapped = [], []
    for r in pairs:
        (o1, c1), (o2, c2) = ((o["object"], o["color"]) for o in r["labels"]["objects"])
        right.append(f"a {c1} {o1} and a {c2} {o2}")
        swapped.append(f"a {c2} {o1} and a {c1} {o2}")

    model = image_model(args.model)
    eos_id = model.tokenizer.eos_token_id
    ids = model.token_ids(right)
    if not torch.equal(ids == eos_id, model.token_ids(swapped) == eos_id):
        raise SystemExit("a swapped caption tokenises to another length than its right one; positions would not line up")
    eos = (ids == eos_id).int().argmax(dim=1)  # the first end-of-text token
    positions = torch.arange(ids.shape[1]).expand_as(ids)
    spans = torch.where(positions == 0, 0, torch.where(positions < eos[:, None], 1,
                        torch.where(positions == eos[:, None], 2, 3)))
    words = (spans == 1)[:, :, None]
    summary = (spans >= 2)[:, :, None]

    ctx_right = model.context(right)
    ctx_swapped = model.context(swapped)
    ctx_empty = model.context([""] * len(pairs))
    contexts = {
        "swapped": ctx_swapped,
        "swapped words": torch.where(words, ctx_swapped, ctx_right),
        "swapped summary": torch.where(summary, ctx_swapped, ctx_right),
        "no summary": torch.where(summary, ctx_empty, ctx_right),
        "no words": torch.where(words, ctx_empty, ctx_right),
        "swapped words, no summary": torch.where(summary, ctx_empty, ctx_swapped),
    }

    # 1. Attention shares with the right caption, over every timestep and draw.
    recorder = AttentionShares(spans)
    default = model.unet.attn_processors
    model.unet.set_attn_processor({name: recorder if name.endswith("attn2.processor") else p
                                   for name, p in default.items()})
    generator = torch.Generator().manual_seed(args.seed)
    timesteps = [int(s) for s in args.timesteps.split(",")]
    batch = 32
    for t in timesteps:
        noisy = model.scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator), torch.tensor([t]))
        for b in range(0, len(pairs), batch):
            recorder.spans = spans[b:b + batch]
            model.predict_noise(noisy[b:b + batch], t, ctx_right[b:b + batch])
    # Same recorder in every layer; each layer's sum is keyed by its attention module.
    names = [name[:-len(".processor")] for name in default if name.endswith("attn2.processor")]
    modules = dict(model.unet.named_modules())
    print(f"{args.model}: {len(pairs)} two-object images, captions 'a C1 O1 and a C2 O2'")
    print("\nShare of cross-attention each span of the caption receives (mean over heads, pixels, images, "
          f"timesteps {args.timesteps}):\n")
    print("| layer | " + " | ".join(SPANS) + " |")
    print("|---|" + "---|" * len(SPANS))
    for name in names:
        total = recorder.total[id(modules[name])]
        shares = total / total.sum()
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in shares.tolist()) + " |")
    model.unet.set_attn_processor(default)

    # 2. Splicing.
    generator = torch.Generator().manual_seed(args.seed)
    print("\nx0 mean squared error with the right caption, and with each spliced context divided by it "
          f"({args.draws} noise draws):\n")
    print("| t | right | " + " | ".join(contexts) + " |")
    print("|---|---|" + "---|" * len(contexts))
    for t in timesteps:
        err = dict.fromkeys(["right", *contexts], 0.0)
        for _ in range(args.draws):
            noisy = model.scheduler.add_noise(x0, torch.randn(x0.shape, generator=generator), torch.tensor([t]))
            for b in range(0, len(pairs), batch):
                part = slice(b, b + batch)
                for k, ctx in [("right", ctx_right), *contexts.items()]:
                    clean = model.predict_clean_from_context(noisy[part], t, ctx[part])
                    err[k] += (clean - x0[part]).pow(2).sum().item()
        r = err["right"]
        print(f"| {t} | {r / (args.draws * x0.numel()):.5f} | "
              + " | ".join(f"{err[k] / r:.4f}" for k in contexts) + " |", flush=True)


if __name__ == "__main__":
    main()
