"""Where the red object is in a clip: the centroid of redness, R - (G + B)/2 clipped at 0 (developer tool).

The motion diagnostics follow "a red OBJECT moving DIRECTION" by this centroid, per frame, at pixel
centres (the first pixel's centre is 0.5).
"""
import torch


def centroids(clips):
    """clips: [N, 3, F, H, W] in [-1, 1]. Per clip and frame, the redness centroid: [N, F, 2] as (x, y)."""
    red = (clips[:, 0] - 0.5 * (clips[:, 1] + clips[:, 2])).clamp(min=0)  # [N, F, H, W]
    h, w = red.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(float(h)) + 0.5, torch.arange(float(w)) + 0.5, indexing="ij")
    mass = red.sum((2, 3)).clamp(min=1e-8)
    return torch.stack([(red * xs).sum((2, 3)) / mass, (red * ys).sum((2, 3)) / mass], -1)
