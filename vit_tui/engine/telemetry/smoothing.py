"""Curve smoothing as TensorBoard draws it: a debiased exponential moving average.

With weight ``w`` the running value is ``last = w * last + (1 - w) * value``, started at 0, and
each point shown is ``last / (1 - w ** n)`` after ``n`` finite values, so the first points are
not pulled towards 0. A non-finite value is shown as it is and leaves the average alone; a
constant series is shown as it is. Weight 0 is no smoothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

WEIGHTS = (0.0, 0.6, 0.9, 0.99)
"""The weights the app's smoothing key cycles through."""


def ema(values: Iterable[float], weight: float) -> list[float]:
    """``values`` smoothed with TensorBoard's debiased EMA of ``weight`` (0 <= weight < 1)."""
    values = [float(v) for v in values]
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    if weight == 0.0 or not values or all(v == values[0] for v in values):
        return values
    smoothed = []
    last, count = 0.0, 0
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        smoothed.append(last / (1.0 - weight**count))
    return smoothed


def next_weight(weight: float) -> float:
    """The weight after ``weight`` in ``WEIGHTS`` (back to 0 after the last; unknown ones start over)."""
    later = [w for w in WEIGHTS if w > weight]
    return later[0] if later else WEIGHTS[0]
