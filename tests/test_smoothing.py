"""Curve smoothing (``engine.telemetry.smoothing.ema``): TensorBoard's debiased exponential moving average."""

from __future__ import annotations

import math

import pytest

from vit_tui.engine.telemetry.smoothing import WEIGHTS, ema, next_weight


def _tensorboard(values, weight):
    """TensorBoard's own loop (tf_line_chart_data_loader / vz_line_chart2 resmoothDataset), written out."""
    last, num_accum, out = 0.0, 0, []
    is_constant = all(v == values[0] for v in values)
    for value in values:
        if not math.isfinite(value) or is_constant:
            out.append(value)
        else:
            last = last * weight + (1 - weight) * value
            num_accum += 1
            debias = 1 if weight == 1 else 1 - weight**num_accum
            out.append(last / debias)
    return out


@pytest.mark.parametrize("weight", WEIGHTS, ids=[f"w{w}" for w in WEIGHTS])
def test_ema_is_tensorboards_debiased_smoothing(weight):
    values = [2.3, 1.9, 2.1, 1.4, 1.6, 1.1, 1.3, 0.9, float("nan"), 0.8, 0.95, 0.7]
    got = ema(values, weight)
    want = _tensorboard(values, weight)
    assert all((math.isnan(a) and math.isnan(b)) or a == pytest.approx(b) for a, b in zip(got, want))


def test_ema_first_point_is_the_value_and_the_curve_is_smoother():
    values = [1.0, 3.0, 1.0, 3.0, 1.0, 3.0]
    smoothed = ema(values, 0.9)
    assert smoothed[0] == pytest.approx(1.0), "debiased: the first point is not pulled to 0"
    spread = max(smoothed[2:]) - min(smoothed[2:])
    assert spread < 1.0 < max(values) - min(values)
    assert ema(values, 0.0) == values and ema([5.0, 5.0], 0.99) == [5.0, 5.0] and ema([], 0.6) == []


def test_weights_cycle_and_a_bad_weight_is_refused():
    assert [next_weight(w) for w in WEIGHTS] == [0.6, 0.9, 0.99, 0.0]
    with pytest.raises(ValueError):
        ema([1.0, 2.0], 1.0)
