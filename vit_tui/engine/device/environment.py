"""Process-wide settings that must be in place before any CUDA library starts (no torch import here).

cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` once, when it creates its first handle. Set at seed time it
comes too late whenever cuBLAS already ran in the process (an earlier run in the app, an inference
on the Evaluate screen): deterministic GEMMs are then silently not deterministic. So every entry
point (``vit_tui.cli.main``, which also starts the app) sets it first thing. The cost is a fixed
cuBLAS workspace per stream (8 x 4 MiB); a value the user exported is kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

CUBLAS_WORKSPACE = ":4096:8"


def prepare_process_environment(environ: MutableMapping[str, str] | None = None) -> None:
    """Put the settings CUDA libraries read at start-up into the environment (keeping the user's own)."""
    env = os.environ if environ is None else environ
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
