#!/usr/bin/env python3
"""Can a video UNet learn to move an object the way its caption asks, on two clips? (developer tool)

The smallest test of motion there is: a red disc crossing the frame left to right, captioned
"a red circle moving right", and the same disc crossing right to left, "a red circle moving left".
The tool trains a video model's UNet on just these two clips, then samples each caption from fresh
noise (DDIM, 25 steps, no guidance) and prints the red centroid's x per frame. A model that can
learn motion at all gives a path that starts on the caption's side and runs monotonically to the
other. Frames that get independent noise are told apart only by what the UNet knows of frame
order: diffusers' UNet3DConditionModel only through its temporal convolutions' zero padding, which
says how far a frame is from either end but, until the kernels learn otherwise, not which end.
A UNet that has not learned the direction of time draws V-shaped paths.

Options are the training's: which weights train (`all`, or `temporal`: the temporal layers or
AnimateDiff's motion modules), the lowest timestep drawn (`--t-min`), and Lethe's
`noisy_end_weight_cap` (1/SNR below SNR 1, up to the cap; 1 = off). Needs torch, diffusers and
transformers (never a runtime dependency of Lethe).

With `--random-paths` the two clips are drawn anew every step: the disc starts anywhere that
leaves room for its run, at any height, and travels 12 to 16 px, as the world's clips do. The
caption then names a direction, not a place, and the model must learn to move the disc from
wherever the noise puts it. Sampled paths are then read by their travel, first frame to last.

Before sampling, the tool prints the loss on the two clips with their captions swapped over the
loss with their own, per timestep: 1 when the UNet makes no use of what tells the captions apart.

  python3 scripts/diagnostics/overfit_motion.py --model models/video
  python3 scripts/diagnostics/overfit_motion.py --model models/video --t-min 300 --noisy-end-cap 100
  python3 scripts/diagnostics/overfit_motion.py --model models/video --prediction v_prediction --random-paths
  python3 scripts/diagnostics/overfit_motion.py --model models/video --prediction v_prediction --frame-positions
"""
import argparse
import shutil
import time

import torch
from diffusers import DDIMScheduler
from redness import centroids
from video_model import VideoModel, is_temporal

CAPTIONS = ["a red circle moving right", "a red circle moving left"]
SIZE, FRAMES = 32, 8


GROUND, RED, BLUE = (0.45, 0.5, 0.55), (0.9, 0.1, 0.1), (0.1, 0.1, 0.9)


def disc_clip(x_first, x_last, y=16.0, radius=5.5, color=RED):
    """A disc (red unless told) moving along y from x_first to x_last on a grey-blue ground, [3, F, H, W] in [-1, 1]."""
    ys, xs = torch.meshgrid(torch.arange(SIZE) + 0.5, torch.arange(SIZE) + 0.5, indexing="ij")
    ground = torch.tensor(GROUND)[:, None, None]
    disc = torch.tensor(color)[:, None, None]
    frames = []
    for f in range(FRAMES):
        cx = x_first + (x_last - x_first) * f / (FRAMES - 1)
        cover = (radius - ((xs - cx) ** 2 + (ys - y) ** 2).sqrt() + 0.5).clamp(0, 1)  # antialiased edge
        frames.append(ground * (1 - cover) + disc * cover)
    return torch.stack(frames, 1) * 2 - 1


def object_centroid_x(clip):
    """Per frame, the x of the centroid of what differs from the ground (any color): [F]."""
    ground = torch.tensor(GROUND)[:, None, None, None] * 2 - 1
    weight = ((clip - ground).norm(dim=0) - 0.3).clamp(min=0)  # [F, H, W]
    xs = torch.arange(float(SIZE)) + 0.5
    return (weight * xs).sum((1, 2)) / weight.sum((1, 2)).clamp(min=1e-8)


def random_pair(generator, left_color):
    """A right-moving red disc and a left-moving one of `left_color`, each from its own random start,
    height and travel."""
    def one(sign, color):
        travel = 12 + 4 * float(torch.rand((), generator=generator))
        low = 6.5 + float(torch.rand((), generator=generator)) * (SIZE - 13 - travel)
        y = 6.5 + float(torch.rand((), generator=generator)) * (SIZE - 13)
        start, end = (low, low + travel) if sign > 0 else (low + travel, low)
        return disc_clip(start, end, y=y, color=color)
    return torch.stack([one(+1, RED), one(-1, left_color)])


def noised(clips, noise, ab, prediction):
    """The noisy clips at cumulative alpha `ab` and what the UNet is trained to predict from them."""
    noisy = ab.sqrt() * clips + (1 - ab).sqrt() * noise
    target = noise if prediction == "epsilon" else ab.sqrt() * noise - (1 - ab).sqrt() * clips
    return noisy, target


def caption_swap_ratios(unet, clips, context, abar, prediction, draws=4):
    """Per timestep, the loss with the captions swapped between the two clips over the loss with each
    clip's own caption, on the same noisy clips: 1 when the UNet makes no use of what tells the
    captions apart, above 1 when it draws what its caption says. Read off the noisy end, where the
    path is decided."""
    generator = torch.Generator().manual_seed(99)
    ratios = {}
    with torch.no_grad():
        for t in (999, 950, 900, 800, 600, 400):
            own = swapped = 0.0
            for _ in range(draws):
                noise = torch.randn(clips.shape, generator=generator)
                noisy, target = noised(clips, noise, abar[t], prediction)
                steps = torch.full((len(clips),), t)
                own += float((unet(noisy, steps, encoder_hidden_states=context).sample - target).pow(2).mean())
                swapped += float((unet(noisy, steps, encoder_hidden_states=context.flip(0)).sample - target).pow(2).mean())
            ratios[t] = swapped / own
    return ratios


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/video", help="a video model folder (UNet3D or UNetMotion)")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--train", choices=["all", "temporal"], default="all")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--t-min", type=int, default=0, help="timesteps are drawn from [t-min, 1000)")
    p.add_argument("--noisy-end-cap", type=float, default=1, help="noisy_end_weight_cap; 1 = plain ε-loss")
    p.add_argument("--prediction", choices=["epsilon", "v_prediction"], default="epsilon",
                   help="what the UNet learns to predict; v_prediction also samples with trailing timesteps, from t = 999")
    p.add_argument("--samples", type=int, default=3, help="sampled pairs after training")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--animatediff", action="store_true",
                   help="--model is an image model: inflate its UNet to AnimateDiff's UNetMotionModel (fresh motion "
                        "modules starting as the identity, 4 heads, whose attention adds sinusoidal frame positions) and train that")
    p.add_argument("--random-paths", action="store_true",
                   help="draw both clips anew each step: random start, height and travel (12-16 px), as in the world")
    p.add_argument("--colors", action="store_true",
                   help="the left-moving disc is blue and its caption says so (\"a blue circle moving left\"): does "
                        "a word the image model already reads tie the path to the caption where the direction word does not?")
    p.add_argument("--color-cue", action="store_true",
                   help="captions as --colors, but both discs red: the captions differ in a word the image model "
                        "reads while every frame's content is the same, so only word x frame order can pick the path")
    p.add_argument("--frame-positions", action="store_true",
                   help="give UNet3D's temporal attention sinusoidal frame positions, as AnimateDiff's motion modules "
                        "have (not loadable as a UNet3DConditionModel; a diagnostic of what frame order costs)")
    p.add_argument("--save", help="also write the trained model here (a copy of --model with the new UNet), e.g. for motion_probe.py")
    a = p.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = VideoModel(a.model)
    if a.animatediff:
        from diffusers import MotionAdapter, UNetMotionModel
        c = model.unet.config
        if model.unet.__class__.__name__ != "UNet2DConditionModel":
            raise SystemExit(f"--animatediff inflates an image model; {a.model} holds a {model.unet.__class__.__name__}")
        adapter = MotionAdapter(block_out_channels=tuple(c.block_out_channels), motion_layers_per_block=c.layers_per_block,
                                motion_norm_num_groups=c.norm_num_groups, motion_num_attention_heads=4,
                                motion_max_seq_length=FRAMES, use_motion_mid_block=False)
        model.unet = UNetMotionModel.from_unet2d(model.unet, adapter).float()
        # AnimateDiff starts its motion modules as the identity (zero output projections), as Lethe's
        # inflation does; diffusers' fresh adapter does not.
        with torch.no_grad():
            for name, weight in model.unet.named_parameters():
                if "motion_modules" in name and "proj_out" in name:
                    weight.zero_()
    if a.frame_positions:
        from diffusers.models.embeddings import SinusoidalPositionalEmbedding
        if model.unet.__class__.__name__ != "UNet3DConditionModel":
            raise SystemExit(f"--frame-positions needs a UNet3DConditionModel; {a.model} gives a {model.unet.__class__.__name__}")
        if a.save:
            # The positions are not in UNet3D's config: a saved copy would load without them.
            raise SystemExit("--frame-positions cannot be saved with --save: UNet3DConditionModel has no key for them")
        blocks = [m for name, m in model.unet.named_modules()
                  if is_temporal(name) and m.__class__.__name__ == "BasicTransformerBlock"]
        for block in blocks:
            block.pos_embed = SinusoidalPositionalEmbedding(block.norm1.normalized_shape[0], max_seq_length=FRAMES)
        print(f"sinusoidal frame positions in {len(blocks)} temporal attention blocks")
    unet = model.unet.train()
    captions = ["a red circle moving right", "a blue circle moving left"] if a.colors or a.color_cue else CAPTIONS
    left_color = BLUE if a.colors else RED
    clips = torch.stack([disc_clip(8, 24), disc_clip(24, 8, color=left_color)])
    context = model.context(captions, FRAMES)
    trained = []
    for name, weight in unet.named_parameters():
        weight.requires_grad_(a.train == "all" or is_temporal(name))
        if weight.requires_grad:
            trained.append(weight)
    optimizer = torch.optim.AdamW(trained, a.lr, weight_decay=0)
    abar = model.scheduler.alphas_cumprod
    start = time.time()
    paths = torch.Generator().manual_seed(7)
    for step in range(a.steps):
        if a.random_paths:
            clips = random_pair(paths, left_color)
        t = torch.randint(a.t_min, 1000, (2,))
        noise = torch.randn_like(clips)
        ab = abar[t].view(-1, 1, 1, 1, 1)
        noisy, target = noised(clips, noise, ab, a.prediction)
        # Lethe's noisy-end weight: 1/SNR where SNR < 1, capped; the clean clip's error then counts as in v-prediction.
        weight = ((1 - ab) / ab).clamp(max=a.noisy_end_cap).clamp(min=1)  # all 1 when the cap is 1
        loss = ((unet(noisy, t, encoder_hidden_states=context).sample - target).pow(2) * weight).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % 50 == 0:
            print(f"step {step}/{a.steps}  loss {loss.item():.4f}  {time.time() - start:.0f} s", flush=True)

    unet.eval()
    if a.random_paths:
        clips = random_pair(paths, left_color)
    ratios = caption_swap_ratios(unet, clips, context, abar, a.prediction)
    print("loss with the captions swapped / with their own, at t =",
          ", ".join(f"{t}: {r:.3f}" for t, r in ratios.items()), flush=True)
    config = dict(model.scheduler.config)
    if a.prediction == "v_prediction":
        config.update(prediction_type="v_prediction", timestep_spacing="trailing")
    if a.save:
        shutil.copytree(a.model, a.save, dirs_exist_ok=True)
        unet.save_pretrained(f"{a.save}/unet")
        if a.prediction == "v_prediction":
            DDIMScheduler.from_config(config).save_pretrained(f"{a.save}/scheduler")
    generator = torch.Generator().manual_seed(123)
    runs = ("a path runs the caption's way when it travels at least 4 px that way" if a.random_paths
            else "the right-moving clip runs 8 -> 24, the left-moving one 24 -> 8")
    print(f"{'object' if a.colors or a.color_cue else 'red'} centroid x per frame ({runs})")
    right_way = 0
    for _ in range(a.samples):
        x = model.sample(captions, generator, scheduler_config=config)
        for caption, clip in zip(captions, x):
            xs = object_centroid_x(clip) if a.colors or a.color_cue else centroids(clip[None])[0, :, 0]
            travel = float(xs[-1] - xs[0]) * (1 if caption.endswith("right") else -1)
            right_way += travel >= 4
            print(f"{caption:28s}", " ".join(f"{float(c):5.1f}" for c in xs), f"  travel the caption's way {travel:+.1f} px")
    print(f"{right_way} of {2 * a.samples} paths travel at least 4 px the caption's way")


if __name__ == "__main__":
    main()
