"""Policy augmentations on a uint8 batch: TrivialAugmentWide and RandAugment, one draw per image.

Both follow torchvision's ``TrivialAugmentWide`` and ``RandAugment`` (their op lists, magnitude
tables of 31 bins, random signs, nearest interpolation, black fill), but every image of the batch
draws its own op, magnitude bin and sign from the run's generator, and the whole batch goes
through :mod:`.augment_ops` in one call (torchvision draws from the global RNG and applies one op
to a whole batch).

- ``trivialaugment``: per image one op out of 14, uniformly, with a uniformly drawn bin of 31.
- ``randaugment``: per image two ops in turn, each uniformly drawn, both at bin ``magnitude``.

Draws per call, in order: op, bin (TrivialAugment only), sign, for every image; RandAugment
draws op and sign twice.
"""

from __future__ import annotations

import torch

from . import augment_draws as draws
from . import augment_ops as ops
from .augment_names import POLICIES

OPS = ("identity", "shear-x", "shear-y", "translate-x", "translate-y", "rotate", "brightness", "color",
       "contrast", "sharpness", "posterize", "solarize", "autocontrast", "equalize")  # fmt: skip
SIGNED = tuple(name not in ("identity", "posterize", "solarize", "autocontrast", "equalize") for name in OPS)
NUM_BINS = 31
RANDAUGMENT_OPS = 2
_TABLES: dict[tuple[str, str, int, int], tuple[torch.Tensor, torch.Tensor]] = {}
_OP = {name: i for i, name in enumerate(OPS)}


def magnitude_table(policy: str, height: int, width: int) -> torch.Tensor:
    """(14, 31) float64 magnitudes, built as torchvision builds them (float32 ``linspace``, half-even rounding)."""
    trivial = policy == "trivialaugment"
    shear, rotate, colour = (0.99, 135.0, 0.99) if trivial else (0.3, 30.0, 0.9)
    translate_x, translate_y = (32.0, 32.0) if trivial else (150.0 / 331.0 * width, 150.0 / 331.0 * height)
    posterize_span = 6 if trivial else 4
    bins = NUM_BINS

    def ramp(top: float) -> torch.Tensor:
        return torch.linspace(0.0, top, bins)

    rows = {
        "shear-x": ramp(shear), "shear-y": ramp(shear), "translate-x": ramp(translate_x),
        "translate-y": ramp(translate_y), "rotate": ramp(rotate), "brightness": ramp(colour),
        "color": ramp(colour), "contrast": ramp(colour), "sharpness": ramp(colour),
        "posterize": (8 - (torch.arange(bins) / ((bins - 1) / posterize_span)).round().int()).float(),
        "solarize": torch.linspace(255.0, 0.0, bins),
    }  # fmt: skip
    return torch.stack([rows.get(name, torch.zeros(bins)) for name in OPS]).double()


def apply_policy(images: torch.Tensor, policy: str, magnitude: int = 9,
                 generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """The batch ``images`` (uint8 ``(N, H, W, 3)``) with the policy applied per image, same layout and dtype."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if policy == "none" or images.shape[0] == 0:
        return images
    n, height, width, _ = images.shape
    table, signed = _device_tables(policy, height, width, images.device)
    x = images.permute(0, 3, 1, 2).to(torch.float32, memory_format=torch.contiguous_format)
    rounds = 1 if policy == "trivialaugment" else RANDAUGMENT_OPS
    for _ in range(rounds):
        op = draws.index(n, len(OPS), generator, images.device)
        if policy == "trivialaugment":
            level = draws.index(n, NUM_BINS, generator, images.device)
        else:
            level = torch.full_like(op, magnitude)
        negative = (draws.uniform(n, generator, images.device) < 0.5) & signed[op]
        value = table[op, level]
        x = apply_ops(x, op, torch.where(negative, -value, value))
    return x.to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def apply_ops(x: torch.Tensor, op: torch.Tensor, magnitude: torch.Tensor, dense: bool | None = None) -> torch.Tensor:
    """Each image of float ``(N, 3, H, W)`` ``x`` changed by its op (N,) (an index of ``OPS``) at its magnitude (N,).

    ``dense`` (the default off the CPU) runs every op on the whole batch and selects per image:
    static shapes and no host reads, so a CUDA graph can capture it. Otherwise (the CPU default)
    each op runs only on the images that drew it, about 10x less work; both give the same pixels.
    """
    if dense is None:
        dense = x.device.type != "cpu"
    out = x if dense else x.clone()
    for names, fn in _GROUPS:
        chosen = _any_of(op, names)
        if dense:
            out = torch.where(chosen.view(-1, 1, 1, 1), fn(x, op, magnitude), out)
            continue
        rows = chosen.nonzero()[:, 0]
        if rows.numel():
            out[rows] = fn(x[rows], op[rows], magnitude[rows])
    return out


def _blends(x: torch.Tensor, op: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """Brightness (towards black), colour (towards grey) and contrast (towards the mean grey) at ``1 + magnitude``."""
    gray = ops.grayscale(x)
    degenerate = torch.where((op == _OP["color"]).view(-1, 1, 1, 1), gray, gray.mean(dim=(1, 2, 3), keepdim=True))
    degenerate = torch.where((op == _OP["brightness"]).view(-1, 1, 1, 1), torch.zeros_like(degenerate), degenerate)
    return ops.blend(x, degenerate, 1.0 + magnitude)


def _any_of(op: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    mask = op == _OP[names[0]]
    for name in names[1:]:
        mask = mask | (op == _OP[name])
    return mask


def _geometric(x: torch.Tensor, op: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """One warp for all images: shear about the top-left corner, translate by whole pixels, rotate about the centre."""
    height, width = x.shape[-2:]
    zero = torch.zeros_like(magnitude)
    shear_angle = ops.shear_degrees(magnitude)
    shear = torch.stack([_where(op, "shear-x", shear_angle, 0.0), _where(op, "shear-y", shear_angle, 0.0)], dim=1)
    step = magnitude.trunc()
    translate = torch.stack([_where(op, "translate-x", step, 0.0), _where(op, "translate-y", step, 0.0)], dim=1)
    sheared = (op == _OP["shear-x"]) | (op == _OP["shear-y"])
    centre = torch.stack([torch.where(sheared, zero - width * 0.5, zero), torch.where(sheared, zero - height * 0.5, zero)], dim=1)
    # torchvision's rotate passes the negated angle to the inverse matrix; affine passes it as is.
    angle = _where(op, "rotate", -magnitude, 0.0)
    return ops.affine(x, angle, translate, shear, centre)


def _where(op: torch.Tensor, name: str, value: torch.Tensor, otherwise: float) -> torch.Tensor:
    return torch.where(op == _OP[name], value, torch.full_like(value, otherwise))


_GROUPS = (
    (("shear-x", "shear-y", "translate-x", "translate-y", "rotate"), _geometric),  # one warp for all five
    (("brightness", "color", "contrast"), _blends),
    (("sharpness",), lambda x, op, m: ops.sharpen(x, ops.blurred_for_sharpness(x), 1.0 + m)),
    (("posterize",), lambda x, op, m: ops.posterize(x, m.trunc())),
    (("solarize",), lambda x, op, m: ops.solarize(x, m)),
    (("autocontrast",), lambda x, op, m: ops.autocontrast(x)),
    (("equalize",), lambda x, op, m: ops.equalize(x)),
)
"""The ops but identity, in groups that share one computation, each as ``fn(x, op, magnitude)``."""


def _device_tables(policy: str, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The magnitude table and signed flags on ``device``, made once (a copy to the device cannot be captured)."""
    key = (policy, str(device), height, width)
    if key not in _TABLES:
        signed = torch.tensor(SIGNED, dtype=torch.bool)
        _TABLES[key] = (magnitude_table(policy, height, width).to(device), signed.to(device))
    return _TABLES[key]
