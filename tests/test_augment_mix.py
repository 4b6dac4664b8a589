"""Mixup, CutMix, soft targets, the Beta sampler and random erasing, against timm where timm is the reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.data import mixup as timm_mixup
from timm.loss import SoftTargetCrossEntropy

from vit_tui.data import augment_draws as draws
from vit_tui.data.augment_mix import (
    Mixing,
    _cutmix,
    dominant_labels,
    mixup_target,
    random_erase,
    soft_target_cross_entropy,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _inputs(n: int = 8, size: int = 16) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=_gen(0))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_soft_targets_without_mixing_give_plain_cross_entropy(smoothing):
    logits = torch.randn(16, 5, generator=_gen(1))
    labels = torch.arange(16) % 5
    soft = soft_target_cross_entropy(logits, mixup_target(labels, 5, 1.0, smoothing))
    assert torch.allclose(soft, F.cross_entropy(logits, labels, label_smoothing=smoothing), atol=1e-6)


@pytest.mark.parametrize("lam", [1.0, 0.7, 0.25])
def test_targets_and_loss_are_timms(lam):
    labels = torch.tensor([0, 3, 1, 4, 2, 2])
    ours = mixup_target(labels, 5, torch.tensor(lam), 0.1)
    assert torch.allclose(ours, timm_mixup.mixup_target(labels, 5, lam, 0.1))
    logits = torch.randn(6, 5, generator=_gen(2))
    assert torch.allclose(soft_target_cross_entropy(logits, ours), SoftTargetCrossEntropy()(logits, ours))


@pytest.mark.parametrize("lam", [0.9, 0.6, 0.3, 0.02])
def test_cutmix_box_and_lambda_are_timms(monkeypatch, lam):
    x = _inputs(size=20)
    ours, ours_lam = _cutmix(x, torch.tensor(lam), _gen(5))
    centre = draws.uniform(2, _gen(5), x.device)  # the same draws _cutmix made
    picks = iter([int(centre[0] * 20), int(centre[1] * 20)])
    monkeypatch.setattr(np.random, "randint", lambda *args, **kwargs: next(picks))
    (yl, yh, xl, xh), timm_lam = timm_mixup.cutmix_bbox_and_lam(x.shape, lam)
    expected = x.clone()
    expected[:, :, yl:yh, xl:xh] = x.flip(0)[:, :, yl:yh, xl:xh]
    assert torch.equal(ours, expected)
    assert math.isclose(float(ours_lam), timm_lam, rel_tol=1e-6)


def test_mixup_blends_each_image_with_its_flipped_partner():
    x = _inputs()
    mixed, lam = Mixing(mixup=0.8)(x, _gen(3))
    assert 0 <= float(lam) <= 1
    assert torch.allclose(mixed, x * lam + x.flip(0) * (1 - lam))
    again, lam_again = Mixing(mixup=0.8)(x, _gen(3))
    assert torch.equal(mixed, again) and torch.equal(lam, lam_again)


def test_both_on_switch_between_mixup_and_cutmix_about_half_the_time():
    x = _inputs()
    generator = _gen(4)
    kinds = []
    for _ in range(200):
        mixed, lam = Mixing(mixup=0.8, cutmix=1.0)(x, generator)
        blended = torch.allclose(mixed, x * lam + x.flip(0) * (1 - lam), atol=1e-5)
        pasted = bool(((mixed == x) | (mixed == x.flip(0))).all())
        assert blended or pasted
        kinds.append(pasted and not blended)
    assert 70 < sum(kinds) < 130


@pytest.mark.parametrize("alpha", [0.2, 0.8, 1.0, 2.0])
def test_beta_sampler_has_the_beta_distribution(alpha):
    from scipy import stats

    generator = _gen(7)
    samples = torch.stack([draws.beta(alpha, generator, torch.device("cpu")) for _ in range(3000)]).numpy()
    assert ((samples >= 0) & (samples <= 1)).all()
    assert stats.kstest(samples, stats.beta(alpha, alpha).cdf).pvalue > 0.001


def test_draws_leave_the_global_generator_alone():
    torch.manual_seed(0)
    before = torch.get_rng_state()
    Mixing(mixup=0.8, cutmix=1.0)(_inputs(), _gen(1))
    random_erase(_inputs(), 0.5, _gen(1))
    assert torch.equal(before, torch.get_rng_state())


def test_dominant_label_is_the_larger_share():
    labels = torch.tensor([0, 1, 2, 3])
    assert dominant_labels(labels, torch.tensor(0.7)).tolist() == [0, 1, 2, 3]
    assert dominant_labels(labels, torch.tensor(0.3)).tolist() == [3, 2, 1, 0]


def test_random_erasing_puts_one_noise_box_per_image_within_timms_limits():
    x = torch.full((64, 3, 24, 24), 7.0)
    out = random_erase(x, 1.0, _gen(9))
    for image in out:
        changed = (image != 7.0).any(0)
        rows, cols = changed.any(1).nonzero()[:, 0], changed.any(0).nonzero()[:, 0]
        h, w = len(rows), len(cols)
        assert h and w and int(changed.sum()) == h * w  # one filled rectangle
        assert rows[-1] - rows[0] + 1 == h and cols[-1] - cols[0] + 1 == w
        assert 0.015 <= h * w / 576 <= 0.4 and 0.2 <= h / w <= 4.5
    assert torch.equal(out, random_erase(x, 1.0, _gen(9)))
    assert torch.equal(random_erase(x, 0.0, _gen(9)), x)
    half = random_erase(x, 0.5, _gen(10))
    assert 16 < int((half != 7.0).flatten(1).any(1).sum()) < 48
    noise = out[out != 7.0]
    assert abs(float(noise.mean())) < 0.1 and abs(float(noise.std()) - 1) < 0.1  # standard normal, timm's pixel mode
