"""The whole run's and the study's time left (``engine.telemetry.eta``)."""

from __future__ import annotations

import pytest

from vit_tui.engine.telemetry.eta import format_eta, run_eta, study_eta


@pytest.mark.parametrize(
    ("seconds", "epochs", "progress", "left"),
    [
        pytest.param([], 10, 0.5, None, id="nothing-timed-yet"),
        pytest.param([30.0], 10, 1.0, 270.0, id="one-epoch-timed"),
        pytest.param([60.0, 20.0, 22.0], 10, 3.5, 6.5 * 22.0, id="median-so-a-slow-warm-up-does-not-count-much"),
        pytest.param([20.0, 20.0], 2, 2.0, 0.0, id="done"),
    ],
)
def test_run_eta_is_the_epochs_left_times_the_median_epoch(seconds, epochs, progress, left):
    assert run_eta(seconds, epochs, progress) == left


def test_study_eta_adds_the_runs_to_start_at_the_median_finished_runs_time():
    assert study_eta([100.0, 120.0, 300.0], 2, 30.0, 110.0) == 30.0 + 2 * 120.0
    assert study_eta([], 3, 40.0, 90.0) == 40.0 + 3 * 90.0, "before a run has finished, the current run's estimate"
    assert study_eta([], 3, None, None) is None


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "?"), (35.4, "35s"), (250, "4m 10s"), (3900, "1h 05m")], ids=["unknown", "s", "m", "h"]
)
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text
