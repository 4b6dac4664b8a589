"""The app's threading choice (``VIT_TUI_APP_THREADS``) and live-view rate (``VIT_TUI_PROGRESS_RATE``).

Both are read in one place before torch loads; a bad value stops ``vit-tui app`` with one line
and exit code 2 before anything is written.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vit_tui.engine.telemetry.events import StepsLogged
from vit_tui.errors import UserError
from vit_tui.tui.app import FEW_CORES, app_thread_settings, prepare_environment, usable_cores
from vit_tui.tui.bridge import MessageSink

THREADS_AFTER_PREPARE = (
    "from vit_tui.tui.app import prepare_environment; prepare_environment(); "
    "import os, torch; print(torch.get_num_threads(), os.environ.get('OMP_WAIT_POLICY', '-'))"
)


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    return {**env, **settings}


def _threads_and_policy(choice: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", THREADS_AFTER_PREPARE],
        env=_env(VIT_TUI_APP_THREADS=choice),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    threads, policy = done.stdout.split()
    return int(threads), policy


def test_each_choice_sets_its_own_openmp_variables():
    assert app_thread_settings("passive", 2) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert app_thread_settings("spin", 2) == {}
    assert app_thread_settings("spare-core", 2) == {"OMP_NUM_THREADS": "1"}
    assert app_thread_settings("spare-core-passive", 3) == {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}
    assert app_thread_settings("spare-core", FEW_CORES + 1) == {}, "many cores: training keeps them all"
    assert app_thread_settings("spare-core", 1) == {}, "one core: training still needs a thread"
    with pytest.raises(UserError, match="VIT_TUI_APP_THREADS"):
        app_thread_settings("fewer", 2)


def test_prepare_environment_defaults_to_the_command_line_settings_and_keeps_what_the_user_set():
    environ: dict[str, str] = {}
    prepare_environment(environ)
    assert environ == {}, "spin: OpenMP's own defaults, as vit-tui train has them"
    environ = {"VIT_TUI_APP_THREADS": "spare-core-passive", "OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "7"}
    prepare_environment(environ)
    assert environ["OMP_WAIT_POLICY"] == "ACTIVE" and environ["OMP_NUM_THREADS"] == "7"


def test_spare_core_leaves_torch_one_thread_fewer_on_a_small_machine():
    spin_threads, spin_policy = _threads_and_policy("spin")
    spare_threads, spare_policy = _threads_and_policy("spare-core-passive")
    cores = usable_cores()
    assert spin_policy == "-" and spare_policy == "PASSIVE"
    assert spare_threads == (cores - 1 if 1 < cores <= FEW_CORES else spin_threads)


@pytest.mark.parametrize(("variable", "value"), [("VIT_TUI_APP_THREADS", "all"), ("VIT_TUI_PROGRESS_RATE", "fast")])
def test_a_bad_setting_stops_the_app_with_one_line_before_writing(tmp_path, variable, value):
    home = tmp_path / "new-home"
    done = subprocess.run(
        [sys.executable, "-m", "vit_tui", "--home", str(home), "app"],
        env=_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and variable in done.stderr and value in done.stderr
    assert "Traceback" not in done.stderr
    assert not home.exists(), "nothing is created for a run that never starts"


def test_the_live_view_takes_log_points_at_the_configured_rate(monkeypatch):
    monkeypatch.setenv("VIT_TUI_PROGRESS_RATE", "2")
    posted = []
    now = [0.0]
    sink = MessageSink(posted.append, clock=lambda: now[0])
    for step in range(1, 41):  # 40 log points over two seconds
        sink(StepsLogged(1, step, 40, step, 1.0, 0.5, 1e-3, 100.0, now[0]))
        now[0] += 0.05
    assert len(posted) == 4, "2 a second over two seconds"
