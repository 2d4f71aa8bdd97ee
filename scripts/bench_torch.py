#!/usr/bin/env python3
"""PyTorch peer for scripts/bench: the same ops at the same shapes, 2 threads, median time.
Prints one JSON object {name: seconds}. Developer tool: needs torch (pip), never used by tests."""
import json, os, statistics, sys, time

# The machine is shared (training jobs at higher priority): with OpenMP's default active waiting,
# every parallel region waits a whole time slice for a descheduled worker, which measured 3.3 s
# instead of 0.15 s for one forward of the clip-world UNet at batch 2. Lethe's workers block
# instead of spinning; the peer does too. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def median_time(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return median_time(lambda: torch.mm(a, b), 20)


def conv2d():
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    b = torch.randn(64, requires_grad=True)
    g = torch.randn(32, 64, 32, 32)

    def step():
        x.grad = w.grad = b.grad = None
        F.conv2d(x, w, b, padding=1).backward(g)
    return median_time(step, 10)


def attention():
    B, H, L, D = 32, 4, 256, 32
    q, k, v = (torch.randn(B, L, H * D, requires_grad=True) for _ in range(3))
    g = torch.randn(B, L, H * D)

    def step():
        q.grad = k.grad = v.grad = None
        split = lambda t: t.view(B, L, H, D).transpose(1, 2)
        o = F.scaled_dot_product_attention(split(q), split(k), split(v))
        o.transpose(1, 2).reshape(B, L, H * D).backward(g)
    return median_time(step, 10)


def clip_world_unet():
    from diffusers import UNet2DConditionModel
    m = UNet2DConditionModel(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(32, 64, 64),
                             layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                             up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                             cross_attention_dim=128, attention_head_dim=8, norm_num_groups=32)
    x, c = torch.randn(32, 3, 32, 32), torch.randn(32, 16, 128)
    t = torch.arange(32) * 31
    return m, x, t, c


def unet2d_train_step():
    m, x, t, c = clip_world_unet()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)

    def step():
        opt.zero_grad()
        F.mse_loss(m(x, t, encoder_hidden_states=c).sample, x).backward()
        opt.step()
    return median_time(step, 5)


def unet2d_sample_forward():
    m, x, t, c = clip_world_unet()

    def fwd():
        with torch.no_grad():
            m(x, t, encoder_hidden_states=c)
    return median_time(fwd, 5)


def erase_step(repeats=10, warmup=2):
    """The default erasure method's step (Lethe's Anchor: Sources/LetheUnlearn/Anchor.swift) in
    transformers/diffusers on the same model folder, from the inputs lethe-bench dumped:
      L = mse(eps(x_t, t, enc(captions)), eps*(x_t, t, anchors)) + w * mse(eps(x_t', t', enc(p)), eps*(x_t', t', p))
          + m * (mse(enc(captions), enc*(anchor)) + mse(enc(p), enc*(p)))
    with eps* the frozen UNet on the ORIGINAL encoder's cached embeddings, only the recipe's
    encoder subset training, AdamW with the recipe's settings. Returns seconds per step, the loss
    of step 0 on Lethe's step-0 inputs and the relative difference of its gradients from Lethe's
    (which must agree before a speed ratio means anything)."""
    from diffusers import DDIMScheduler, UNet2DConditionModel
    from safetensors import safe_open
    from transformers import CLIPTextModel, CLIPTokenizer

    dump = os.path.join(os.environ.get("LETHE_BENCH_DUMP", ""), "erase_step.safetensors")
    if not os.path.exists(dump):
        raise SystemExit(f"bench_torch: {dump} missing: run lethe-bench erase_step with LETHE_BENCH_DUMP set first")
    with safe_open(dump, "pt") as f:
        meta, data = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    if meta["method"] != "anchor":
        raise SystemExit(f"bench_torch: erase_step implements the anchor loss, the dump is of {meta['method']}")
    folder = meta["model"]
    tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder").float().eval()
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet").float().eval()
    scheduler = DDIMScheduler.from_pretrained(folder, subfolder="scheduler")
    unet.requires_grad_(False)
    encoder.requires_grad_(False)

    # encoder_subset mlp-last-attn: every layer's MLP plus the last layer's self-attention.
    if meta["encoder_subset"] != "mlp-last-attn":
        raise SystemExit(f"bench_torch: encoder_subset {meta['encoder_subset']} not implemented")
    last = f"text_model.encoder.layers.{encoder.config.num_hidden_layers - 1}.self_attn."
    # State-dict keys carry "text_model."; transformers 5's parameter names may not.
    named = {n if n.startswith("text_model.") else "text_model." + n: p for n, p in encoder.named_parameters()}
    trained = {n: p for n, p in named.items()
               if (n.startswith("text_model.encoder.layers.") and ".mlp." in n) or n.startswith(last)}
    lethe_keys = {k.removeprefix("text_encoder.") for k in json.loads(meta["trained_keys"])}
    if set(trained) != lethe_keys:
        raise SystemExit(f"bench_torch: trained tensors differ: {sorted(set(trained) ^ lethe_keys)}")
    for p in trained.values():
        p.requires_grad_(True)

    def ids(prompts):
        return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids

    captions, anchor = json.loads(meta["captions"]), meta["anchor"]
    # Each caption's anchor (in-context anchoring replaces the concept inside the caption).
    anchored = json.loads(meta.get("anchored_captions", "null")) or [anchor] * len(captions)
    if len(anchored) != len(captions):
        raise SystemExit("bench_torch: anchored_captions and captions differ in length")
    preserve = json.loads(meta["preserve_prompts"])
    s0 = [json.loads(meta[k]) for k in ("step0_captions", "step0_anchors", "step0_preserved")]
    if not torch.equal(ids(s0[0] + s0[1] + s0[2]), data["step0_input_ids"].long()):
        raise SystemExit("bench_torch: transformers' tokenizer gives other ids than Lethe's for the step-0 prompts")
    # The original encoder's embeddings of the fixed prompts, once before training (as Lethe).
    fixed = sorted(set([anchor] + preserve + captions + anchored))
    with torch.no_grad():
        cached = dict(zip(fixed, encoder(ids(fixed))[0]))

    def original(prompts):
        return torch.stack([cached[p] for p in prompts])

    weight = float(meta["preservation_weight"])
    text_weight = float(meta.get("embedding_weight", "0"))

    def loss_of(sample, t, caps, anchors, preserved, rows):
        with torch.no_grad():
            target = unet(sample, t, encoder_hidden_states=original(anchors)).sample
        caption_states = encoder(ids(caps))[0]
        pred = unet(sample, t, encoder_hidden_states=caption_states).sample
        loss = F.mse_loss(pred, target)
        if text_weight > 0:
            loss = loss + F.mse_loss(caption_states, original(anchors)) * text_weight
        if preserved:
            x, tp = sample[rows], t[rows]
            with torch.no_grad():
                kept = unet(x, tp, encoder_hidden_states=original(preserved)).sample
            preserved_states = encoder(ids(preserved))[0]
            drift = unet(x, tp, encoder_hidden_states=preserved_states).sample
            loss = loss + F.mse_loss(drift, kept) * weight
            if text_weight > 0:
                loss = loss + F.mse_loss(preserved_states, original(preserved)) * text_weight
        return loss

    # Step 0 on Lethe's inputs: the loss, and the gradients (the first optimiser step uses them).
    step0 = loss_of(data["step0_sample"], data["step0_timesteps"].long(), *s0, json.loads(meta["step0_preserved_rows"]))
    step0.backward()
    loss0 = step0.item()
    diff = sum(((p.grad - data["grad.text_encoder." + n]) ** 2).sum() for n, p in trained.items())
    norm = sum((data["grad.text_encoder." + n] ** 2).sum() for n in trained)
    grad_rel = (diff / norm).sqrt().item()

    betas = json.loads(meta["betas"])
    opt = torch.optim.AdamW(list(trained.values()), lr=float(meta["lr"]), betas=(betas[0], betas[1]),
                            eps=float(meta["eps"]), weight_decay=float(meta["weight_decay"]))
    if float(meta["grad_clip"]) != 0:
        raise SystemExit("bench_torch: grad_clip not implemented (the default recipe has none)")
    images, batch = data["images"], int(meta["batch_size"])
    per_step = int(meta["preserve_per_step"]) if weight > 0 and preserve else 0
    gen = torch.Generator().manual_seed(0)

    def step():
        # The batch as Lethe draws it: random images, a random caption each, uniform t, fresh noise.
        pick = torch.randint(images.shape[0], (batch,), generator=gen)
        picked = torch.randint(len(captions), (batch,), generator=gen).tolist()
        caps, anchors = [captions[i] for i in picked], [anchored[i] for i in picked]
        t = torch.randint(scheduler.config.num_train_timesteps, (batch,), generator=gen)
        x0 = images[pick]
        sample = scheduler.add_noise(x0, torch.randn(x0.shape, generator=gen), t)
        preserved = [preserve[i] for i in torch.randint(len(preserve), (per_step,), generator=gen)]
        opt.zero_grad(set_to_none=True)
        loss = loss_of(sample, t, caps, anchors, preserved, [i % batch for i in range(per_step)])
        loss.backward()
        opt.step()
        return loss.item()

    return median_time(step, repeats, warmup), loss0, grad_rel


def erase_entries():
    seconds, loss0, grad_rel = erase_step()
    return {"erase_step": seconds, "erase_step_loss0": loss0, "erase_step_grad_rel_diff": grad_rel}


def video_step(motion):
    """lethe-bench's videoStep: the clip world's image UNet (configs/train/image.yaml) as
    UNet3DConditionModel or UNetMotionModel, batch 3 × 8 frames × 3×32×32, forward, MSE, backward."""
    from diffusers import UNet3DConditionModel, UNetMotionModel
    common = dict(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(32, 64, 64), layers_per_block=1,
                  cross_attention_dim=128, norm_num_groups=8)
    if motion:
        m = UNetMotionModel(down_block_types=("DownBlockMotion", "CrossAttnDownBlockMotion", "CrossAttnDownBlockMotion"),
                            up_block_types=("CrossAttnUpBlockMotion", "CrossAttnUpBlockMotion", "UpBlockMotion"),
                            num_attention_heads=(4, 8, 8), motion_num_attention_heads=8, **common)
    else:
        m = UNet3DConditionModel(down_block_types=("DownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D"),
                                 up_block_types=("CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "UpBlock3D"),
                                 attention_head_dim=8, **common)
    x, c, t = torch.randn(3, 3, 8, 32, 32), torch.randn(3, 16, 128), torch.tensor([10, 500, 990])
    # UNetMotionModel takes one context row per frame (AnimateDiffPipeline repeats them).
    context = c.repeat_interleave(8, dim=0) if motion else c

    def step():
        m.zero_grad(set_to_none=True)
        F.mse_loss(m(x, t, encoder_hidden_states=context).sample, x).backward()
    return median_time(step, 3, warmup=1)


BENCHES = {"unet2d_train_step": unet2d_train_step, "unet2d_sample_forward": unet2d_sample_forward, "gemm_1024": gemm, "conv2d_fwd_bwd": conv2d, "attention_fwd_bwd": attention}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHES)
    out = {n: BENCHES[n]() for n in names if n in BENCHES}
    # Opt-in (needs a model folder and lethe-bench's dump); `erase` names all erasure entries.
    if "erase" in names or "erase_step" in names:
        out.update(erase_entries())
    # Opt-in video models; `video` names both.
    for name, motion in (("video_unet3d_step", False), ("video_motion_step", True)):
        if "video" in names or name in names:
            out[name] = video_step(motion)
    print(json.dumps(out))
