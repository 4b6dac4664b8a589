"""Batch augmentation and model-input conversion, on whatever device the images live on.

Images stay uint8 ``(N, H, W, 3)`` on the device; each batch is augmented there and turned into
the model's float input. All randomness comes from an optional ``torch.Generator``, so a seeded
generator gives the same augmentations run after run.

Kinds:

- ``none``: the batch unchanged.
- ``flip``: each image mirrored left-right with probability 1/2.
- ``flip-crop``: flip, then shift by up to 4 pixels each way with reflected borders (the same as
  padding 4 with reflection and taking a random crop of the original size).
- ``flip-resized-crop``: flip, then a random crop holding 35-100% of the area with aspect ratio
  3/4 to 4/3, resized back to full size (bilinear).

The policy augmentations (``train.policy``) follow these on the uint8 batch
(:mod:`.augment_policy`); random erasing and mixup/CutMix work on the normalised float input
(:mod:`.augment_mix`). All draw through :mod:`.augment_draws`.

Normalisation in :func:`to_model_input`: ``(x / 255 - 0.5) / 0.5`` for every channel, so pixel
values map from [0, 255] to [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .augment_draws import uniform as _uniform
from .augment_names import AUGMENTS

MEAN = 0.5
STD = 0.5
CROP_PAD = 4
RESIZED_CROP_SCALE = (0.35, 1.0)
RESIZED_CROP_RATIO = (3 / 4, 4 / 3)


def to_model_input(images_uint8: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, H, W)`` normalised to [-1, 1] (mean 0.5, std 0.5)."""
    x = images_uint8.permute(0, 3, 1, 2).to(dtype=dtype, memory_format=torch.contiguous_format)
    return x.div_(255.0 * STD).sub_(MEAN / STD)


def augment_batch(images: torch.Tensor, kind: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch, returned in the layout and dtype it came in.

    ``images`` is uint8 ``(N, H, W, 3)`` or float ``(N, 3, H, W)``.
    """
    if kind not in AUGMENTS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTS)}, got {kind!r}")
    channels_last = _is_nhwc(images)
    if kind == "none" or images.shape[0] == 0:
        return images
    nhwc = images if channels_last else images.permute(0, 2, 3, 1)
    flip = _uniform(nhwc.shape[0], generator, nhwc.device) < 0.5
    if kind == "flip":
        out = torch.where(flip[:, None, None, None], nhwc.flip(2), nhwc)
    elif kind == "flip-crop":
        out = _shift_crop(nhwc, flip, generator)
    else:
        out = _resized_crop(nhwc, flip, generator)
    return out if channels_last else out.permute(0, 3, 1, 2).contiguous()


def _is_nhwc(images: torch.Tensor) -> bool:
    if images.dim() != 4:
        raise ValueError(f"expected a batch of 4 dimensions, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8 and images.shape[3] == 3:
        return True
    if images.is_floating_point() and images.shape[1] == 3:
        return False
    raise ValueError(f"expected uint8 (N, H, W, 3) or float (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")


def _reflect(index: torch.Tensor, length: int) -> torch.Tensor:
    index = index.abs()
    return torch.where(index > length - 1, 2 * (length - 1) - index, index)


def _shift_crop(nhwc: torch.Tensor, flip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    n, height, width, _ = nhwc.shape
    device = nhwc.device
    span = 2 * CROP_PAD + 1
    dy = (_uniform(n, generator, device) * span).long().clamp_(max=span - 1) - CROP_PAD
    dx = (_uniform(n, generator, device) * span).long().clamp_(max=span - 1) - CROP_PAD
    rows = _reflect(torch.arange(height, device=device)[None, :] + dy[:, None], height)  # (N, H)
    cols = _reflect(torch.arange(width, device=device)[None, :] + dx[:, None], width)  # (N, W)
    cols = torch.where(flip[:, None], width - 1 - cols, cols)
    batch = torch.arange(n, device=device)[:, None, None]
    return nhwc[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)


def _resized_crop(nhwc: torch.Tensor, flip: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    n = nhwc.shape[0]
    device = nhwc.device
    low, high = RESIZED_CROP_SCALE
    area = low + (high - low) * _uniform(n, generator, device)
    log_low, log_high = math.log(RESIZED_CROP_RATIO[0]), math.log(RESIZED_CROP_RATIO[1])
    ratio = torch.exp(log_low + (log_high - log_low) * _uniform(n, generator, device))
    # Crop width and height as fractions of the image side (grid units span 2 per side).
    crop_w = torch.sqrt(area * ratio).clamp(max=1.0)
    crop_h = torch.sqrt(area / ratio).clamp(max=1.0)
    centre_x = (1 - crop_w) * (2 * _uniform(n, generator, device) - 1)
    centre_y = (1 - crop_h) * (2 * _uniform(n, generator, device) - 1)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = torch.where(flip, -crop_w, crop_w)
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = crop_h
    theta[:, 1, 2] = centre_y
    nchw = nhwc.permute(0, 3, 1, 2).float()
    grid = F.affine_grid(theta, list(nchw.shape), align_corners=False)
    sampled = F.grid_sample(nchw, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if nhwc.dtype == torch.uint8:
        sampled = sampled.round_().clamp_(0, 255)
    return sampled.to(nhwc.dtype).permute(0, 2, 3, 1)
