"""The names of the batch augmentations, without torch.

``augment.py`` implements them; the config checks ``train.augment`` against this list before
anything heavy is imported.
"""

from __future__ import annotations

AUGMENTS = ("none", "flip", "flip-crop", "flip-resized-crop")
