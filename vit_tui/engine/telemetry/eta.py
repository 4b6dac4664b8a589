"""How long a run, and a study of runs, still has to go: estimated from the epochs and runs already timed.

An epoch's time is the median of the finished epochs' (the first, with its warm-up, weighs no more
than any other); a study's runs still to start take the median time of the runs it has finished, or
until one has, the current run's own estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median


def run_eta(epoch_seconds: Sequence[float], epochs: int, progress: float) -> float | None:
    """Seconds left for a run of ``epochs`` at ``progress`` epochs done (fractions count); None before an epoch is timed."""
    timed = [s for s in epoch_seconds if s > 0]
    if not timed or epochs <= 0:
        return None
    return max(0.0, epochs - progress) * median(timed)


def study_eta(run_seconds: Sequence[float], runs_to_start: int, current_left: float | None,
              current_total: float | None) -> float | None:  # fmt: skip
    """Seconds left for a study: the current run's rest, then ``runs_to_start`` runs of the median finished run's time."""
    per_run = median(run_seconds) if run_seconds else current_total
    if per_run is None:
        return None
    return (current_left or 0.0) + runs_to_start * per_run


def format_eta(seconds: float | None) -> str:
    """``1h 05m``, ``4m 10s``, ``35s`` (``?`` when unknown)."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds}s"
