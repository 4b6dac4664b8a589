"""The names of the batch augmentations, without torch.

``augment.py`` and ``augment_policy.py`` implement them; the config checks ``train.augment`` and
``train.policy`` against these lists before anything heavy is imported.
"""

from __future__ import annotations

AUGMENTS = ("none", "flip", "flip-crop", "flip-resized-crop")
POLICIES = ("none", "trivialaugment", "randaugment")
POLICY_BINS = 31
"""Magnitude bins of the policies (torchvision's): ``train.policy_magnitude`` is one of 0..30."""
