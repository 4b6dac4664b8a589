"""Batch augmentation on the device and the model-input conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vit_tui.data.augment import AUGMENTS, CROP_PAD, augment_batch, to_model_input


def _batch(n: int = 32, size: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size, 3), generator=generator, dtype=torch.uint8)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _shifted_versions(image: np.ndarray) -> list[np.ndarray]:
    """Every flip x shift (reflect-padded by CROP_PAD, cropped back) of one HWC image."""
    size = image.shape[0]
    padded = np.pad(image, ((CROP_PAD, CROP_PAD), (CROP_PAD, CROP_PAD), (0, 0)), mode="reflect")
    versions = []
    for top in range(2 * CROP_PAD + 1):
        for left in range(2 * CROP_PAD + 1):
            crop = padded[top : top + size, left : left + size]
            versions += [crop, crop[:, ::-1]]
    return versions


def test_to_model_input_normalises_to_minus_one_one():
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 3, 1).expand(2, 1, 3, 3).contiguous()
    x = to_model_input(images)
    assert x.shape == (2, 3, 1, 3) and x.dtype == torch.float32 and x.is_contiguous()
    expected = (torch.tensor([0.0, 51.0, 255.0]) / 255 - 0.5) / 0.5
    assert torch.allclose(x[0, :, 0, 0], expected.view(3)[0].expand(3))
    assert torch.allclose(x[1, 0, 0], expected)
    assert to_model_input(images, torch.float64).dtype == torch.float64


def test_none_returns_the_batch_untouched():
    images = _batch()
    assert augment_batch(images, "none", _gen(0)) is images


def test_flip_mirrors_about_half_the_images_and_follows_the_seed():
    images = _batch(64)
    out = augment_batch(images, "flip", _gen(1))
    flipped = [torch.equal(o, i.flip(1)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48
    assert torch.equal(out, augment_batch(images, "flip", _gen(1)))
    assert not torch.equal(out, augment_batch(images, "flip", _gen(2)))


def test_flip_crop_gives_reflect_padded_shifts():
    images = _batch(16)
    out = augment_batch(images, "flip-crop", _gen(3))
    assert out.shape == images.shape and out.dtype == torch.uint8
    shifted = 0
    for o, i in zip(out.numpy(), images.numpy()):
        assert any(np.array_equal(o, v) for v in _shifted_versions(i))
        shifted += not (np.array_equal(o, i) or np.array_equal(o, i[:, ::-1]))
    assert shifted >= 8  # most images move


@pytest.mark.parametrize("kind", AUGMENTS)
def test_float_nchw_gives_the_same_result_as_uint8_nhwc(kind):
    images = _batch(8)
    from_uint8 = to_model_input(augment_batch(images, kind, _gen(4)))
    from_float = augment_batch(to_model_input(images), kind, _gen(4))
    assert from_float.shape == (8, 3, 12, 12) and from_float.dtype == torch.float32
    # uint8 rounds the resampled pixels; float keeps them
    assert torch.allclose(from_uint8, from_float, atol=1.01 / 127.5)


def test_flip_resized_crop_zooms_in_and_keeps_flat_images_flat():
    flat = torch.full((6, 16, 16, 3), 77, dtype=torch.uint8)
    assert torch.equal(augment_batch(flat, "flip-resized-crop", _gen(5)), flat)
    ramp = torch.arange(16, dtype=torch.uint8).mul(15).view(1, 1, 16, 1).expand(32, 16, 16, 3).contiguous()
    out = augment_batch(ramp, "flip-resized-crop", _gen(5))
    assert out.shape == ramp.shape and out.dtype == torch.uint8
    spans = (out[:, 8, :, 0].float().max(1).values - out[:, 8, :, 0].float().min(1).values).tolist()
    assert all(span <= 225 for span in spans) and min(spans) < 200  # crops see part of the ramp
    rising = out[:, 8, -1, 0].int() > out[:, 8, 0, 0].int()
    assert 0 < int(rising.sum()) < 32  # some crops flipped, some not
    assert torch.equal(out, augment_batch(ramp, "flip-resized-crop", _gen(5)))


def test_bad_kind_or_layout_is_refused():
    with pytest.raises(ValueError, match="augment must be one of"):
        augment_batch(_batch(), "rotate", None)
    with pytest.raises(ValueError, match="expected uint8"):
        augment_batch(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "flip", None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_the_gpu_with_a_cpu_generator():
    images = _batch().cuda()
    for kind in AUGMENTS:
        out = augment_batch(images, kind, _gen(6))
        assert out.is_cuda and out.shape == images.shape
    cpu = augment_batch(images.cpu(), "flip-crop", _gen(7))
    assert torch.equal(augment_batch(images, "flip-crop", _gen(7)).cpu(), cpu)
