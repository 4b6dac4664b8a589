"""Telling the user a run has ended: the bytes written to the terminal (``engine.telemetry.notify``), read back from a
pseudo-terminal for ``vit-tui train --notify`` and ``vit-tui attach --notify``."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_engine_train import TINY, make_dataset

from vit_tui.engine.telemetry.events import RunFailed, RunFinished, StepsLogged
from vit_tui.engine.telemetry.notify import notice_for, notification_text

PLAIN = {"TERM": "xterm-256color"}


@pytest.mark.parametrize(
    ("options", "environ", "expected"),
    [
        pytest.param({}, PLAIN, "\x07\x1b]9;done: run-a finished\x07", id="bell-and-osc9"),
        pytest.param({"bell": False}, PLAIN, "\x1b]9;done: run-a finished\x07", id="no-bell"),
        pytest.param({"desktop": False}, PLAIN, "\x07", id="bell-only"),
        pytest.param({}, {"TERM": "xterm-256color", "VTE_VERSION": "7600"},
                     "\x07\x1b]777;notify;done;run-a finished\x07", id="vte-speaks-osc777"),  # fmt: skip
        pytest.param({"dialect": "osc777"}, {"TERM": "rxvt-unicode"}, "\x07\x1b]777;notify;done;run-a finished\x07",
                     id="osc777-chosen"),  # fmt: skip
        pytest.param({}, {"TERM": "screen", "TMUX": "/tmp/tmux-0/default,1,0"},
                     "\x07\x1bPtmux;\x1b\x1b]9;done: run-a finished\x07\x1b\\", id="tmux-passthrough"),  # fmt: skip
    ],
)
def test_notification_text_per_terminal(options, environ, expected):
    assert notification_text("done", "run-a finished", environ=environ, **options) == expected


def test_notification_text_cannot_end_or_break_the_sequence():
    text = notification_text("a;b\x1b]", "line\nwith\x07bell\x9c" + "x" * 500, dialect="osc777", environ=PLAIN)
    inner = text[1:]
    assert inner.startswith("\x1b]777;notify;a,b ];line with bell x")
    assert inner.count("\x07") == 1 and inner.count("\x1b") == 1 and len(inner) < 300


@pytest.mark.parametrize(
    ("event", "title", "body"),
    [
        pytest.param(RunFinished("finished", "/r/run-a", 3, 2, 0.84, 0.8, 9.0), "vit-tui: run finished",
                     "run-a finished after 3 epochs, best val acc 84.0% at epoch 2", id="finished"),  # fmt: skip
        pytest.param(RunFinished("interrupted", "/r/run-a", 1, 0, 0.0, 0.0, 1.0), "vit-tui: run interrupted",
                     "run-a interrupted after 1 epochs", id="interrupted"),  # fmt: skip
        pytest.param(RunFailed("/r/run-a", "the training loss became nan at epoch 1, step 3"), "vit-tui: run failed",
                     "run-a: the training loss became nan at epoch 1, step 3", id="non-finite-loss"),  # fmt: skip
        pytest.param(StepsLogged(1, 2, 3, 2, float("inf"), 0.1, 1e-3, 10.0, 1.0), "vit-tui: run diverged",
                     "the run: the loss is inf at epoch 1", id="loss-not-a-number"),  # fmt: skip
    ],
)
def test_notice_for_the_events_that_end_a_run(event, title, body):
    notice = notice_for(event)
    assert (notice.title, notice.body) == (title, body)
    assert notice_for(StepsLogged(1, 2, 3, 2, 0.5, 0.1, 1e-3, 10.0, 1.0)) is None


# --- read back from a pseudo-terminal ------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "VTE_VERSION")}
    return {**env, "OMP_NUM_THREADS": "1", "TERM": "xterm-256color", "COLUMNS": "100", **extra}


def _run_on_a_pty(command: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, bytes, str]:
    """Run ``command`` with its stdout on a pseudo-terminal; return its exit code and every byte it wrote there."""
    master, slave = pty.openpty()
    process = subprocess.Popen(command, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side has closed
                break
            if not chunk:
                break
            out += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    code = process.wait(timeout=10)
    return code, bytes(out), process.stderr.read().decode()


def _vit(home: Path, *args) -> list[str]:
    return [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]


SETS = [arg for item in TINY for arg in ("--set", item)]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_dataset(home / "data" / "tiny", 48, 24)
    return home


@pytest.mark.slow
def test_train_notify_rings_and_sends_osc9_on_its_terminal(home):
    command = _vit(home, "train", "--notify", "--data", home / "data/tiny", *SETS, "--out", home / "runs/told")
    code, out, err = _run_on_a_pty(command, _env())
    assert code == 0, err
    assert b"\x07\x1b]9;vit-tui: run finished: told finished after " in out
    assert out.count(b"\x1b]9;") == 1


def test_without_notify_or_a_terminal_nothing_is_told(tmp_path):
    from vit_tui.commands.train import with_notifier

    def display(event) -> None:
        pass

    assert with_notifier(display, False) is display
    with open(tmp_path / "log.txt", "w") as log:  # a log file is no terminal: it gets no escapes
        from vit_tui.engine.telemetry.notify import tty_writer

        assert tty_writer(log) is None


@pytest.mark.slow
def test_attach_notify_inside_tmux_wraps_the_notification_for_passthrough(home):
    run_dir = home / "runs/background"
    started = subprocess.run(_vit(home, "train", "--detach", "--data", home / "data/tiny", *SETS,
                                  "--set", "train.epochs=2", "--out", run_dir),
                             capture_output=True, text=True, env=_env(), timeout=60)  # fmt: skip
    assert started.returncode == 0, started.stderr
    code, out, err = _run_on_a_pty(_vit(home, "attach", "--notify", run_dir), _env(TMUX="/tmp/tmux-0/default,1,0"), 180)
    assert code == 0, err
    assert b"\x07\x1bPtmux;\x1b\x1b]9;vit-tui: run finished: background finished after 2 epochs" in out
    assert out.count(b"\x1bPtmux;") == 1


def test_detach_with_notify_is_refused(home):
    out = subprocess.run(_vit(home, "train", "--detach", "--notify", "--data", home / "data/tiny", *SETS),
                         capture_output=True, text=True, env=_env(), timeout=60)  # fmt: skip
    assert out.returncode == 2 and out.stderr.startswith("vit-tui: --notify: a detached run has no terminal")
