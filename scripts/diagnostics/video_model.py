"""A model folder as the diagnostics use it (developer tool, on diffusers and transformers).

Loads the tokenizer, text encoder, UNet (a video model's UNet3DConditionModel or UNetMotionModel,
or an image model's UNet2DConditionModel: everything below but `sample` serves both) and noise
schedule of a Lethe/diffusers folder, and draws noise from the prior the model was trained on: a
model trained on Lethe's mixed frame noise (PYoCo, `mixed_noise_alpha` in its scheduler config) is
always fed that prior.
"""
import json

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, UNet2DConditionModel, UNet3DConditionModel, UNetMotionModel
from transformers import CLIPTextModel, CLIPTokenizer

UNET_CLASSES = {"UNet3DConditionModel": UNet3DConditionModel, "UNetMotionModel": UNetMotionModel,
                "UNet2DConditionModel": UNet2DConditionModel}
# The parts of a video UNet that work across frames: UNet3D's temporal attention and convolutions
# (transformer_in is the first temporal attention), AnimateDiff's motion modules.
TEMPORAL_PARTS = ("temp_attentions", "transformer_in", "temp_convs", "motion_modules")


def is_temporal(name):
    """Whether a state-dict or parameter name belongs to a video UNet's temporal layers."""
    return any(part in name for part in TEMPORAL_PARTS)


def load_checkpoint(unet, path):
    """Puts a `lethe train` checkpoint's UNet weights into `unet`: the EMA weights if the run keeps
    them, else the raw ones. A run in progress can then be probed without waiting for its folder.
    Refuses a weight the UNet does not have; weights the checkpoint lacks stay the folder's."""
    from safetensors.torch import load_file
    tensors = load_file(path)
    prefix = "ema.unet." if any(k.startswith("ema.unet.") for k in tensors) else "param.unet."
    weights = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    if not weights:
        raise SystemExit(f"{path}: no UNet weights (expected keys 'ema.unet.*' or 'param.unet.*')")
    own = unet.state_dict()
    unknown = sorted(set(weights) - set(own))
    if unknown:
        raise SystemExit(f"{path}: '{unknown[0]}' is not a weight of this model's UNet (a checkpoint of another model?)")
    missing = sorted(set(own) - set(weights))
    if missing:
        # A run that trains only the temporal layers checkpoints only those; the rest stay the folder's.
        print(f"{path}: {len(weights)} of {len(own)} UNet weights from the checkpoint, the rest from the folder")
    own.update(weights)
    unet.load_state_dict(own)


def load_images(folder, rows):
    """The PNGs of `lethe world render --mode image` rows (captions.jsonl lines) as [N, 3, H, W] in [-1, 1]."""
    from PIL import Image
    pixels = [np.asarray(Image.open(f"{folder}/{r['file']}").convert("RGB"), dtype=np.float32) / 127.5 - 1 for r in rows]
    return torch.tensor(np.stack(pixels)).permute(0, 3, 1, 2)


def pair_arguments(description):
    """The command line of the tools that score an image model on ground-truth pairs."""
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", required=True, help="a diffusers folder with a UNet2DConditionModel")
    ap.add_argument("--images", required=True, help="a `lethe world render --mode image --scale 1` folder")
    ap.add_argument("--timesteps", default="950,900,800,700,500,300")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per image and timestep")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def load_color_pairs(folder):
    """The images of two objects of different colors in a `lethe world render --mode image --scale 1`
    folder: their captions.jsonl rows and their pixels as [N, 3, 32, 32] in [-1, 1]."""
    rows = [json.loads(line) for line in open(f"{folder}/captions.jsonl")]
    pairs = [r for r in rows if len(r["labels"]["objects"]) == 2
             and r["labels"]["objects"][0]["color"] != r["labels"]["objects"][1]["color"]]
    if not pairs:
        raise SystemExit(f"{folder}: no image of two objects of different colors")
    x0 = load_images(folder, pairs)
    if x0.shape[-1] != 32:
        raise SystemExit(f"{folder}: images are {x0.shape[-1]} px; render with --scale 1")
    return pairs, x0


def image_model(folder):
    """The model folder, refused unless it is an image model (a UNet2DConditionModel)."""
    model = VideoModel(folder)
    if model.unet.__class__.__name__ != "UNet2DConditionModel":
        raise SystemExit(f"{folder}: expected an image model (UNet2DConditionModel), found {model.unet.__class__.__name__}")
    return model


class VideoModel:
    def __init__(self, folder, checkpoint=None):
        self.tokenizer = CLIPTokenizer.from_pretrained(f"{folder}/tokenizer")
        self.encoder = CLIPTextModel.from_pretrained(f"{folder}/text_encoder").float()
        kind = json.load(open(f"{folder}/unet/config.json"))["_class_name"]
        self.unet = UNET_CLASSES[kind].from_pretrained(f"{folder}/unet").float().eval()
        if checkpoint:
            load_checkpoint(self.unet, checkpoint)
        self.scheduler = DDPMScheduler.from_pretrained(f"{folder}/scheduler")
        self.alpha = json.load(open(f"{folder}/scheduler/scheduler_config.json")).get("mixed_noise_alpha")

    @property
    def is_motion(self):
        return isinstance(self.unet, UNetMotionModel)

    def token_ids(self, captions):
        """The captions' token ids as the pipelines give them to the encoder: padded to the model's length."""
        return self.tokenizer(captions, padding="max_length", max_length=self.tokenizer.model_max_length,
                              truncation=True, return_tensors="pt").input_ids

    def context(self, captions, frames=1):
        """The text context for one clip (or image) per caption, as the UNet takes it."""
        with torch.no_grad():
            context = self.encoder(self.token_ids(captions)).last_hidden_state
        # AnimateDiff's UNet takes the text context once per frame.
        return context.repeat_interleave(frames, dim=0) if self.is_motion else context

    def noise(self, shape, generator):
        """Noise of shape [N, C, F, H, W] from the model's prior."""
        noise = torch.randn(shape, generator=generator)
        if self.alpha:
            shared = torch.randn((shape[0], shape[1], 1, *shape[3:]), generator=generator)
            noise = (self.alpha * shared + noise) / (1 + self.alpha * self.alpha) ** 0.5
        return noise

    def predict_noise(self, sample, timestep, context):
        """The model's ε, converted from v for a v-prediction model (ε = sqrt(abar) v + sqrt(1 - abar) x_t)."""
        with torch.no_grad():
            out = self.unet(sample, torch.full((sample.shape[0],), timestep), encoder_hidden_states=context).sample
        kind = self.scheduler.config.prediction_type
        if kind == "epsilon":
            return out
        if kind != "v_prediction":
            raise SystemExit(f"prediction_type {kind} is not supported here")
        abar = self.scheduler.alphas_cumprod[timestep]
        return abar.sqrt() * out + (1 - abar).sqrt() * sample

    def sample(self, captions, generator, steps=25, guidance=None, scheduler_config=None):
        """Clips for `captions` by DDIM (η = 0) from the model's noise prior, as `lethe eval` samples:
        with classifier-free guidance at `guidance`, or the conditional prediction alone when None.
        `scheduler_config` replaces the model's own (e.g. to sample a UNet trained in place as v)."""
        ddim = DDIMScheduler.from_config(scheduler_config or self.scheduler.config)
        ddim.set_timesteps(steps)
        n = len(captions)
        x = self.noise((n, 3, 8, 32, 32), generator)
        cond = self.context(captions, 8)
        context = cond if guidance is None else torch.cat([self.context([""] * n, 8), cond])
        for t in ddim.timesteps:
            with torch.no_grad():
                if guidance is None:
                    out = self.unet(x, t.expand(n), encoder_hidden_states=context).sample
                else:
                    uncond, c = self.unet(torch.cat([x, x]), t.expand(2 * n), encoder_hidden_states=context).sample.chunk(2)
                    out = uncond + guidance * (c - uncond)
            x = ddim.step(out, t, x).prev_sample
        return x

    def predict_clean(self, sample, timestep, captions):
        """x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) for one caption per clip of `sample`."""
        return self.predict_clean_from_context(sample, timestep, self.context(captions, sample.shape[2]))

    def predict_clean_from_context(self, sample, timestep, context):
        """predict_clean for a text context given as the UNet takes it (e.g. spliced from several captions)."""
        abar = self.scheduler.alphas_cumprod[timestep]
        eps = self.predict_noise(sample, timestep, context)
        return (sample - (1 - abar).sqrt() * eps) / abar.sqrt()
