"""Seeding and determinism for a run.

``CUBLAS_WORKSPACE_CONFIG`` must be in the environment before cuBLAS first initialises, which can
be long before a run seeds (an earlier run in the app, the Evaluate screen): the command-line entry
sets it at process start (see ``environment``).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from .environment import prepare_process_environment


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch; switch deterministic algorithms on or off for this process."""
    if deterministic:
        # Only a fallback for callers that skipped ``prepare_process_environment``: cuBLAS reads it once.
        prepare_process_environment()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
