"""Mean ± std over seeds, and whether two settings differ by more than the seed-to-seed spread.

The rule (stated in the README): Welch's two-sided t-test on the per-seed best validation
accuracies, at the 5% level. It needs two or more seeds on each side; with fewer there is no
spread to compare against, and the verdict says so instead of guessing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ALPHA = 0.05


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0 for a single value)."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def pm(values: Sequence[float], percent: bool = True) -> str:
    """``53.0% ± 1.2%`` (or just ``53.0%`` for one value)."""
    mean, std = mean_std(values)
    if percent:
        return f"{mean:.1%}" if len(values) < 2 else f"{mean:.1%} ± {std:.1%}"
    return f"{mean:.3g}" if len(values) < 2 else f"{mean:.3g} ± {std:.2g}"


@dataclass(frozen=True)
class Verdict:
    """The comparison of two settings' per-seed accuracies; ``exceeds`` is None when undecidable."""

    name_a: str
    name_b: str
    mean_a: float
    mean_b: float
    n_a: int
    n_b: int
    difference: float
    p_value: float | None
    exceeds: bool | None
    text: str


def compare_seeds(name_a: str, values_a: Sequence[float], name_b: str, values_b: Sequence[float]) -> Verdict:
    """Whether ``a`` and ``b`` differ by more than the seed-to-seed spread (Welch's t-test, 5%)."""
    (mean_a, _), (mean_b, _) = mean_std(values_a), mean_std(values_b)
    difference = mean_a - mean_b
    n_a, n_b = len(values_a), len(values_b)
    points = f"{abs(difference) * 100:.1f} points"
    head = f"{name_a} {pm(values_a)} vs {name_b} {pm(values_b)}"
    if n_a < 2 or n_b < 2:
        text = f"{head}: {points} apart; run two or more seeds of each to tell this from seed-to-seed spread"
        return Verdict(name_a, name_b, mean_a, mean_b, n_a, n_b, difference, None, None, text)
    p_value = welch_p_value(values_a, values_b)
    exceeds = p_value < ALPHA
    judged = "more than" if exceeds else "within"
    p_text = "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"
    text = f"{head}: {points} apart, {judged} the seed-to-seed spread (Welch's t-test, {p_text})"
    return Verdict(name_a, name_b, mean_a, mean_b, n_a, n_b, difference, p_value, exceeds, text)


def welch_p_value(values_a: Sequence[float], values_b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances)."""
    from scipy import stats

    (mean_a, std_a), (mean_b, std_b) = mean_std(values_a), mean_std(values_b)
    var_a, var_b = std_a**2 / len(values_a), std_b**2 / len(values_b)
    spread = var_a + var_b
    if spread == 0.0:  # every seed gave the same number on both sides
        return 1.0 if mean_a == mean_b else 0.0
    t = (mean_a - mean_b) / math.sqrt(spread)
    dof = spread**2 / (var_a**2 / (len(values_a) - 1) + var_b**2 / (len(values_b) - 1))
    return float(2.0 * stats.t.sf(abs(t), dof))
