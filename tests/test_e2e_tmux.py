"""End to end in a real terminal: tmux runs ``vit-tui`` at 80x24 and keys drive the whole flow.

Nothing to a trained demo model, its confusion matrix, exported files and a comparison of two
runs, using only the keyboard. Skipped where tmux is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_fixtures import tiny_config

from vit_tui import config as config_mod

TMUX = shutil.which("tmux")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(TMUX is None, reason="tmux is not installed"),
]


class Terminal:
    """One detached tmux session running a command in an 80x24 window."""

    def __init__(self, name: str, command: str, env: dict[str, str]) -> None:
        self.name = name
        self.socket = ["-L", f"vit-tui-test-{os.getpid()}"]
        self._tmux(
            "new-session", "-d", "-s", name, "-x", "80", "-y", "24", *[f"-e{k}={v}" for k, v in env.items()], command
        )

    def _tmux(self, *args: str) -> str:
        done = subprocess.run([TMUX, *self.socket, *args], capture_output=True, text=True, timeout=30)
        return done.stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", self.name, key)
            time.sleep(0.15)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.25)
        raise AssertionError(f"{text!r} did not appear within {timeout}s; the screen shows:\n{self.screen()}")

    def alive(self) -> bool:
        return self.name in self._tmux("list-sessions", "-F", "#{session_name}")

    def close(self) -> None:
        subprocess.run([TMUX, *self.socket, "kill-server"], capture_output=True, timeout=30)


def test_keyboard_only_flow_from_nothing_to_exports_and_a_comparison(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    config_mod.save(tiny_config("data/demo", ["model.image_size=64", "model.patch_size=16"]), home / "vit-tui.toml")
    vit_tui = Path(sys.executable).with_name("vit-tui")
    command = f"{vit_tui if vit_tui.exists() else sys.executable + ' -m vit_tui'} --home {home} app --demo-per-class 12"
    env = {"VIT_TUI_CONFIG_DIR": str(tmp_path / "settings"), "TERM": "xterm-256color"}
    term = Terminal("flow", command, env)
    try:
        term.wait_for("No dataset yet", 30)
        term.keys("d")
        term.wait_for("demo  5 cls", 60)
        term.keys("2")
        term.wait_for("Summary", 60)
        term.keys("C-o")
        term.wait_for("loaded", 10)
        term.keys("Escape", "3", "t")
        term.wait_for("finished:", 120)
        term.keys("4")
        shown = term.wait_for("confusion matrix", 60)
        for name in ("circle", "square", "triangle", "cross", "stripes"):
            assert name in shown
        assert "accuracy" in shown
        term.keys("e")
        term.wait_for("exported", 60)
        run_dirs = list((home / "runs").iterdir())
        assert len(run_dirs) == 1
        for name in ("confusion_matrix.csv", "confusion_matrix.png", "curves.png", "report.md"):
            assert (run_dirs[0] / name).is_file()
        # A second run, then mark both and compare them.
        term.keys("3", "t")
        deadline = time.monotonic() + 120
        while len(list((home / "runs").iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.25)
        term.wait_for("finished:", 120)
        term.keys("5")
        term.wait_for("status", 10)
        term.keys("Space", "Down", "Space", "c")
        shown = term.wait_for("A vs B", 60)
        assert "best val acc" in shown
        compare_dirs = list((home / "compare").iterdir())
        assert len(compare_dirs) == 1 and (compare_dirs[0] / "comparison.md").is_file()
        term.keys("Escape", "C-q")
        deadline = time.monotonic() + 20
        while term.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not term.alive(), "ctrl+q quits the app"
    finally:
        term.close()
