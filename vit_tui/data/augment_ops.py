"""Batched image operations with one parameter per image, for the policy augmentations.

Each function takes a float ``(N, 3, H, W)`` batch holding uint8 values (0-255 integers) and
per-image parameter tensors of shape ``(N,)``, and returns the batch with each image changed by
its own parameter: one call per batch, no loop over images, no host reads, static shapes, so the
ops also run inside a captured CUDA graph. The formulas are those of
``torchvision.transforms.v2.functional`` on uint8 images (blends truncate to uint8 as its
``.to(torch.uint8)`` does; geometric ops use its inverse-affine matrix and pixel-centre grid with
nearest sampling and a black fill), so one image gives what torchvision gives it.

A parameter that leaves an image unchanged (factor 1, 8 bits, threshold 256, an identity matrix)
is how an image whose drawn op is another one passes through an op untouched.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)
_BASE_GRIDS: dict[tuple[str, int, int], torch.Tensor] = {}


def affine(x: torch.Tensor, angle: torch.Tensor, translate: torch.Tensor, shear: torch.Tensor,
           centre: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """Per-image affine warp, nearest sampling, black outside (torchvision's ``affine``/``rotate``).

    ``angle`` (N,) in degrees as torchvision's inverse matrix takes it, ``translate``, ``shear``
    (degrees) and ``centre`` (pixels from the image centre) (N, 2) each; all float64, so the
    matrices round as torchvision's (built in Python floats) do.
    """
    n, _, height, width = x.shape
    theta = _inverse_affine(angle, translate, shear, centre).to(torch.float32)  # (N, 2, 3)
    # torchvision's _affine_grid: pixel-centre coordinates from the image centre, scaled to [-1, 1].
    columns = theta.transpose(1, 2)  # (N, 3, 2)
    rescaled = torch.stack([columns[..., 0] / (0.5 * width), columns[..., 1] / (0.5 * height)], dim=-1)
    grid = _base_grid(height, width, x.device).expand(n, -1, -1).bmm(rescaled).view(n, height, width, 2)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _inverse_affine(angle: torch.Tensor, translate: torch.Tensor, shear: torch.Tensor,
                    centre: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1) for a batch of parameters: (N, 2, 3)."""
    rot, sx, sy = torch.deg2rad(angle), torch.deg2rad(shear[:, 0]), torch.deg2rad(shear[:, 1])
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m0, m1, m3, m4 = d, -b, -c, a
    shift_x = -centre[:, 0] - translate[:, 0]
    shift_y = -centre[:, 1] - translate[:, 1]
    m2 = m0 * shift_x + m1 * shift_y + centre[:, 0]
    m5 = m3 * shift_x + m4 * shift_y + centre[:, 1]
    return torch.stack([m0, m1, m2, m3, m4, m5], dim=1).view(-1, 2, 3)


def _base_grid(height: int, width: int, device: torch.device) -> torch.Tensor:
    """(1, H*W, 3) pixel centres relative to the image centre, made once per size and device (not during capture)."""
    key = (str(device), height, width)
    if key not in _BASE_GRIDS:
        grid = torch.empty(1, height, width, 3, dtype=torch.float32, device=device)
        grid[..., 0].copy_(torch.linspace(-width * 0.5 + 0.5, width * 0.5 - 0.5, steps=width, device=device))
        grid[..., 1].copy_(torch.linspace(-height * 0.5 + 0.5, height * 0.5 - 0.5, steps=height, device=device)[:, None])
        grid[..., 2].fill_(1)
        _BASE_GRIDS[key] = grid.view(1, height * width, 3)
    return _BASE_GRIDS[key]


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma, floored as torchvision's uint8 saturation and contrast floor it."""
    r, g, b = x.unbind(1)
    # The same sequence of float operations as torchvision, so the floor lands on the same side.
    return r.mul(GRAY_WEIGHTS[0]).add_(g, alpha=GRAY_WEIGHTS[1]).add_(b, alpha=GRAY_WEIGHTS[2]).floor_().unsqueeze(1)


def blend(x: torch.Tensor, degenerate: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * degenerate``, clamped and truncated to uint8 values (torchvision's ``_blend``)."""
    f, rest = _weights(factor, x.dtype)
    # addcmul, as torchvision's add_(..., alpha=) rounds the product and sum once (a fused multiply-add on CPU).
    return (x * f).addcmul_(degenerate.expand_as(x), rest.expand_as(x)).clamp_(0, 255).floor_()


def blurred_for_sharpness(x: torch.Tensor) -> torch.Tensor:
    """torchvision's sharpness degenerate: a rounded 3x3 smoothing inside, the image itself on the border.

    The kernel (1 around, 5 in the middle, over 13) as two shifted box sums rather than a
    depthwise convolution, which is slow on the CPU; the sums are exact integers, and k/13 is
    never within float error of a half, so the rounding matches the convolution's.
    """
    height, width = x.shape[-2:]
    if height <= 2 or width <= 2:
        return x
    rows = x[..., :-2, :] + x[..., 1:-1, :] + x[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]  # (N, C, H-2, W-2) 3x3 sums
    blurred = ((box + 4 * x[..., 1:-1, 1:-1]) / 13.0).round_()
    return F.pad(blurred, (1, 1, 1, 1)) + x * _border_mask(height, width, x.device, x.dtype)


def sharpen(x: torch.Tensor, blurred: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """torchvision's ``adjust_sharpness`` blend: ``x + (1 - factor) * (blurred - x)``, clamped and truncated."""
    _, rest = _weights(factor, x.dtype)
    return x.addcmul(blurred - x, rest.expand_as(x)).clamp_(0, 255).floor_()


def _weights(factor: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``factor`` and ``1 - factor`` as (N, 1, 1, 1) of ``dtype``, the difference taken in float64 as torchvision's
    Python floats take it (in float32 it would lose the low bits of a small magnitude)."""
    factor = factor.to(torch.float64)
    return factor.to(dtype).view(-1, 1, 1, 1), (1.0 - factor).to(dtype).view(-1, 1, 1, 1)


def _border_mask(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    inner_rows = (rows > 0) & (rows < height - 1)
    inner_cols = (cols > 0) & (cols < width - 1)
    return (~(inner_rows[:, None] & inner_cols[None, :])).to(dtype)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the top ``bits`` (N,) bits of each value (8 keeps the image)."""
    step = torch.pow(2.0, (8 - bits).to(x.dtype)).view(-1, 1, 1, 1)  # what the mask 0xFF << (8 - bits) clears
    return x - torch.remainder(x, step)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert values at or above each image's ``threshold`` (N,) (256 keeps the image)."""
    return torch.where(x >= threshold.to(x.dtype).view(-1, 1, 1, 1), 255 - x, x)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to 0-255 (torchvision's ``autocontrast``); a flat channel stays."""
    low = x.amin(dim=(-2, -1), keepdim=True)
    high = x.amax(dim=(-2, -1), keepdim=True)
    flat = high == low
    inv_scale = torch.where(flat, torch.ones_like(high), (high - low) * (1.0 / 255))
    low = torch.where(flat, torch.zeros_like(low), low)
    return ((x - low) / inv_scale).clamp_(0, 255).floor_()


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each channel of each image with PIL's table, as torchvision's ``equalize``.

    The cumulative histogram comes from sorting and ``searchsorted`` rather than ``scatter_add_``,
    which is not deterministic on CUDA under ``torch.use_deterministic_algorithms``.
    """
    n, c, height, width = x.shape
    flat = x.reshape(n * c, height * width)
    values = torch.arange(256, device=x.device, dtype=x.dtype).expand(n * c, 256).contiguous()
    cum_hist = torch.searchsorted(flat.sort(dim=1).values.contiguous(), values, right=True)  # count of v <= k: (NC, 256)
    hist = torch.diff(cum_hist, dim=1, prepend=torch.zeros_like(cum_hist[:, :1]))
    top = flat.amax(dim=1, keepdim=True).long()
    step = torch.div(height * width - hist.gather(1, top), 255, rounding_mode="floor")  # (NC, 1)
    lut = torch.div(cum_hist[:, :-1] + step // 2, step.clamp(min=1), rounding_mode="floor").clamp_(0, 255)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut], dim=1)
    equalized = lut.gather(1, flat.long()).to(x.dtype)
    return torch.where(step > 0, equalized, flat).view(n, c, height, width)


def shear_degrees(magnitude: torch.Tensor) -> torch.Tensor:
    """The shear angle in degrees torchvision's autoaugment passes for a shear magnitude: ``degrees(atan(m))``."""
    return torch.atan(magnitude) * (180.0 / math.pi)
