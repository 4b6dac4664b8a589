"""A real terminal for the TUI benchmarks: one tmux server per command, fixed size, keys and screen reads.

Each ``Terminal`` runs one command in a detached tmux session on its own server socket, so a
run starts from a fresh server and nothing outlives ``close()``. ``key_latency`` times how long a
key takes to show on the screen as a user sees it: from just before ``send-keys`` until a
``capture-pane`` shows the change, polling every few milliseconds.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

POLL_GAP_S = 0.003
"""Sleep between screen reads while waiting for a key's effect; each read itself takes a few ms."""


class Terminal:
    """One detached tmux session of ``size`` (columns, rows) running ``command`` with extra ``env``."""

    def __init__(self, command: str, env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise SystemExit("the tmux harness needs tmux on PATH")
        self._base = [tmux, "-L", f"vit-tui-bench-{os.getpid()}-{time.monotonic_ns()}", "-f", os.devnull]
        columns, rows = size
        settings = [f"-e{key}={value}" for key, value in env.items()]
        self.tmux("new-session", "-d", "-s", "bench", "-x", str(columns), "-y", str(rows), *settings, command)

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one tmux command against this terminal's server."""
        return subprocess.run([*self._base, *args], capture_output=True, text=True, timeout=30, check=False)

    def keys(self, *keys: str, gap_s: float = 0.2) -> None:
        """Press ``keys`` one after another, as a user types them."""
        for key in keys:
            self.tmux("send-keys", "-t", "bench", key)
            time.sleep(gap_s)

    def screen(self) -> str:
        """The visible text of the pane, as a user sees it."""
        return self.tmux("capture-pane", "-p", "-t", "bench").stdout

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "bench").returncode == 0

    def wait_for(self, text: str, timeout_s: float) -> str:
        """The screen once it shows ``text``; SystemExit with the screen if it does not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            if not self.alive():
                raise SystemExit(f"the terminal's command ended before {text!r} showed")
            time.sleep(0.25)
        raise SystemExit(f"{text!r} did not show within {timeout_s:.0f}s; the screen:\n{self.screen()}")

    def wait_until_ended(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.alive():
            if time.monotonic() > deadline:
                raise SystemExit(f"the command did not end within {timeout_s:.0f}s; the screen:\n{self.screen()}")
            time.sleep(0.5)

    def close(self) -> None:
        self.tmux("kill-server")


@dataclass(frozen=True)
class LatencyProbe:
    """A key whose effect shows on screen: ``shown(screen)`` flips each time the key is pressed."""

    key: str
    shown: Callable[[str], bool]


def key_latency(
    term: Terminal, probe: LatencyProbe, presses: int, gaps_s: tuple[float, float], give_up_s: float
) -> tuple[list[float | None], float]:
    """Seconds from each press to its effect on screen (None where it did not show within ``give_up_s``).

    Presses come at random intervals drawn from ``gaps_s``, so they do not lock onto a redraw rhythm.
    Also returns the median time one screen read takes: the resolution of these figures.
    """
    latencies: list[float | None] = []
    reads: list[float] = []
    for _ in range(presses):
        time.sleep(random.uniform(*gaps_s))
        before = probe.shown(term.screen())
        sent = time.perf_counter()
        term.tmux("send-keys", "-t", "bench", probe.key)
        latencies.append(_until_flipped(term, probe, before, sent, give_up_s, reads))
    return latencies, statistics.median(reads) if reads else 0.0


def _until_flipped(
    term: Terminal, probe: LatencyProbe, before: bool, sent: float, give_up_s: float, reads: list[float]
) -> float | None:
    while time.perf_counter() - sent < give_up_s:
        read_start = time.perf_counter()
        shown = probe.shown(term.screen())
        reads.append(time.perf_counter() - read_start)
        if shown != before:
            return time.perf_counter() - sent
        time.sleep(POLL_GAP_S)
    return None


def latency_summary(latencies: list[float | None]) -> dict[str, float | int]:
    """p50, p95 and max in milliseconds over the presses that showed, and how many did not."""
    shown = sorted(s * 1000 for s in latencies if s is not None)
    if not shown:
        return {"presses": len(latencies), "not_shown": len(latencies)}
    p95_index = min(len(shown) - 1, round(0.95 * (len(shown) - 1)))
    return {
        "presses": len(latencies),
        "not_shown": len(latencies) - len(shown),
        "p50_ms": round(statistics.median(shown), 1),
        "p95_ms": round(shown[p95_index], 1),
        "max_ms": round(shown[-1], 1),
    }
