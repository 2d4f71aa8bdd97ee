"""A video model folder as the diagnostics use it (developer tool, on diffusers and transformers).

Loads the tokenizer, text encoder, video UNet (UNet3DConditionModel or UNetMotionModel) and noise
schedule of a Lethe/diffusers folder, and draws noise from the prior the model was trained on: a
model trained on Lethe's mixed frame noise (PYoCo, `mixed_noise_alpha` in its scheduler config) is
always fed that prior.
"""
import json

import torch
from diffusers import DDPMScheduler, UNet3DConditionModel, UNetMotionModel
from transformers import CLIPTextModel, CLIPTokenizer

UNET_CLASSES = {"UNet3DConditionModel": UNet3DConditionModel, "UNetMotionModel": UNetMotionModel}
# The parts of a video UNet that work across frames: UNet3D's temporal attention and convolutions
# (transformer_in is the first temporal attention), AnimateDiff's motion modules.
TEMPORAL_PARTS = ("temp_attentions", "transformer_in", "temp_convs", "motion_modules")


def is_temporal(name):
    """Whether a state-dict or parameter name belongs to a video UNet's temporal layers."""
    return any(part in name for part in TEMPORAL_PARTS)


class VideoModel:
    def __init__(self, folder):
        self.tokenizer = CLIPTokenizer.from_pretrained(f"{folder}/tokenizer")
        self.encoder = CLIPTextModel.from_pretrained(f"{folder}/text_encoder").float()
        kind = json.load(open(f"{folder}/unet/config.json"))["_class_name"]
        self.unet = UNET_CLASSES[kind].from_pretrained(f"{folder}/unet").float().eval()
        self.scheduler = DDPMScheduler.from_pretrained(f"{folder}/scheduler")
        self.alpha = json.load(open(f"{folder}/scheduler/scheduler_config.json")).get("mixed_noise_alpha")

    @property
    def is_motion(self):
        return isinstance(self.unet, UNetMotionModel)

    def context(self, captions, frames):
        """The text context for one clip per caption, as the UNet takes it."""
        ids = self.tokenizer(captions, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            context = self.encoder(ids).last_hidden_state
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
        with torch.no_grad():
            return self.unet(sample, torch.full((sample.shape[0],), timestep), encoder_hidden_states=context).sample

    def predict_clean(self, sample, timestep, captions):
        """x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) for one caption per clip of `sample`."""
        abar = self.scheduler.alphas_cumprod[timestep]
        eps = self.predict_noise(sample, timestep, self.context(captions, sample.shape[2]))
        return (sample - (1 - abar).sqrt() * eps) / abar.sqrt()
