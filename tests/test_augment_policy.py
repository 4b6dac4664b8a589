"""TrivialAugmentWide and RandAugment on the device: each batched op against torchvision's v2 functional."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from vit_tui.data.augment_policy import OPS, SIGNED, apply_ops, apply_policy, magnitude_table

NEAREST = InterpolationMode.NEAREST
# On the CPU every op is equal to torchvision's, pixel for pixel, at every bin tried.


def _images(seed: int = 0) -> torch.Tensor:
    """Eight uint8 (N, H, W, 3) images: four noisy, four smooth ramps (which equalize and sharpness treat differently)."""
    generator = torch.Generator().manual_seed(seed)
    noisy = torch.randint(0, 256, (4, 20, 24, 3), generator=generator, dtype=torch.uint8)
    ramp = torch.linspace(10, 200, 24)[None, None, :, None] + torch.randint(0, 30, (4, 20, 24, 3), generator=generator)
    return torch.cat([noisy, ramp.to(torch.uint8)])


def _torchvision(image: torch.Tensor, name: str, m: float) -> torch.Tensor:
    """One (3, H, W) uint8 image through torchvision's v2 functional, as its TrivialAugmentWide applies ``name``."""
    shear = math.degrees(math.atan(m))
    calls = {
        "identity": lambda: image,
        "shear-x": lambda: TF.affine(image, 0.0, [0, 0], 1.0, [shear, 0.0], NEAREST, center=[0, 0]),
        "shear-y": lambda: TF.affine(image, 0.0, [0, 0], 1.0, [0.0, shear], NEAREST, center=[0, 0]),
        "translate-x": lambda: TF.affine(image, 0.0, [int(m), 0], 1.0, [0.0, 0.0], NEAREST),
        "translate-y": lambda: TF.affine(image, 0.0, [0, int(m)], 1.0, [0.0, 0.0], NEAREST),
        "rotate": lambda: TF.rotate(image, m, NEAREST),
        "brightness": lambda: TF.adjust_brightness(image, 1.0 + m),
        "color": lambda: TF.adjust_saturation(image, 1.0 + m),
        "contrast": lambda: TF.adjust_contrast(image, 1.0 + m),
        "sharpness": lambda: TF.adjust_sharpness(image, 1.0 + m),
        "posterize": lambda: TF.posterize(image, int(m)),
        "solarize": lambda: TF.solarize(image, m),
        "autocontrast": lambda: TF.autocontrast(image),
        "equalize": lambda: TF.equalize(image),
    }
    return calls[name]()


@pytest.mark.parametrize("op", range(len(OPS)), ids=OPS)
def test_each_op_matches_torchvision_per_image(op):
    images = _images()
    table = magnitude_table("trivialaugment", 20, 24)
    name = OPS[op]
    for level in (0, 7, 15, 22, 30):
        for sign in (1.0, -1.0) if SIGNED[op] else (1.0,):
            m = float(table[op, level]) * sign
            ours = apply_ops(images.permute(0, 3, 1, 2).float(), torch.full((8,), op), torch.full((8,), m, dtype=torch.float64))
            ref = torch.stack([_torchvision(image, name, m) for image in images.permute(0, 3, 1, 2)])
            diff = (ours.to(torch.uint8).int() - ref.int()).abs()
            assert diff.max() == 0, (name, m, diff.max())


def test_a_mixed_batch_gives_each_image_its_own_op():
    images = _images()
    op = torch.arange(8) + 3  # translate-x .. sharpness, then posterize, solarize, ...
    m = torch.tensor([5.0, -7.0, 40.0, 0.5, -0.3, 0.6, 0.9, 6.0], dtype=torch.float64)
    ours = apply_ops(images.permute(0, 3, 1, 2).float(), op, m).to(torch.uint8)
    for i in range(8):
        ref = _torchvision(images[i].permute(2, 0, 1), OPS[int(op[i])], float(m[i]))
        assert torch.equal(ours[i], ref)


def test_magnitude_tables_are_torchvisions():
    from torchvision.transforms import RandAugment, TrivialAugmentWide

    for policy, space in (("trivialaugment", TrivialAugmentWide()._augmentation_space(31)),
                          ("randaugment", RandAugment()._augmentation_space(31, (20, 24)))):  # fmt: skip
        table = magnitude_table(policy, 20, 24)
        names = {k.lower().replace("shearx", "shear-x").replace("sheary", "shear-y").replace("translatex", "translate-x")
                 .replace("translatey", "translate-y"): v for k, v in space.items()}  # fmt: skip
        for i, name in enumerate(OPS):
            magnitudes, signed = names[name]
            assert signed == SIGNED[i]
            expected = magnitudes.double() if magnitudes.ndim else torch.zeros(31, dtype=torch.float64)
            assert torch.equal(table[i], expected), (policy, name)


@pytest.mark.parametrize("policy", ["trivialaugment", "randaugment"])
def test_policy_follows_the_seed_and_keeps_layout(policy):
    images = _images()
    out = apply_policy(images, policy, 9, torch.Generator().manual_seed(3))
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(out, apply_policy(images, policy, 9, torch.Generator().manual_seed(3)))
    assert not torch.equal(out, apply_policy(images, policy, 9, torch.Generator().manual_seed(4)))
    assert apply_policy(images, "none", 9, None) is images


def test_global_rng_is_left_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    apply_policy(_images(), "trivialaugment", 9, torch.Generator().manual_seed(1))
    assert torch.equal(before, torch.get_rng_state())


def test_trivialaugment_draws_ops_uniformly():
    images = _images().repeat(64, 1, 1, 1)  # 512 images
    out = apply_policy(images, "trivialaugment", 9, torch.Generator().manual_seed(0))
    changed = (out != images).flatten(1).any(1).float().mean()
    assert 0.7 < changed < 0.97  # identity, zero-magnitude bins and 8-bit posterize leave some images as they were


def test_randaugment_magnitude_zero_changes_only_what_needs_no_magnitude():
    images = _images()
    out = apply_policy(images, "randaugment", 0, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    with pytest.raises(ValueError, match="policy must be one of"):
        apply_policy(images, "autoaugment", 9, None)


@pytest.mark.parametrize("seed", [0, 1])
def test_dense_path_for_capture_gives_the_same_pixels_as_the_cpu_path(seed):
    images = _images(seed).repeat(4, 1, 1, 1).permute(0, 3, 1, 2).float()
    generator = torch.Generator().manual_seed(seed)
    op = (torch.rand(32, generator=generator) * len(OPS)).long()
    level = (torch.rand(32, generator=generator) * 31).long()
    m = magnitude_table("trivialaugment", 20, 24)[op, level] * torch.where(torch.rand(32, generator=generator) < 0.5, -1, 1)
    assert torch.equal(apply_ops(images, op, m, dense=True), apply_ops(images, op, m, dense=False))
