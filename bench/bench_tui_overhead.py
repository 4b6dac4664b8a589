"""TUI overhead: training speed inside the app against the real ``vit-tui train``, and key latency while training.

Both sides train the same config (the ``fast`` preset) on the same generated demo set,
alternating, ``--repeats`` times each, every run in a fresh process (OpenMP thread pools left
behind by one run would otherwise slow the next). The command-line side is the real
``vit-tui train`` with its own defaults (no environment tweaks, its live rich display on). The
app side is the real ``vit-tui`` with its own ``prepare_environment`` and each ``--app-threads``
choice (``VIT_TUI_APP_THREADS``), one app side per choice. Two harnesses:

* ``headless``: the command's output goes to a pipe; the app runs under Textual's headless driver
  at ``--size`` (every widget still updates, the compositor still draws) and ``t`` is pressed.
* ``tmux``: both run in a real terminal, a fresh tmux server of ``--size`` each; in the app the
  keys a user types load ``vit-tui.toml`` on the Model screen (2, ctrl+o), go to Train and press t.

Each side's figure is the median over all its runs of the engine-measured epoch seconds
(``metrics.csv``) after each run's first (warm-up) epoch; a run whose saved config differs from
the bench's stops the bench. In tmux both sides are checked for their end every 0.5 s. With ``--presses`` above 0 the tmux
harness also measures key latency per app choice, in one more app run each: ``c`` (the chart
toggle) is pressed at random intervals, first with the app idle on the Train screen, then while
it trains, and each press is timed from just before ``send-keys`` until ``capture-pane`` shows
the chart's title change. The idle figures show what the measuring itself costs (a screen read
takes a few ms; ``screen_read_ms``). Prints one JSON line.

    python bench/bench_tui_overhead.py --device cpu
    python bench/bench_tui_overhead.py --harness tmux --app-threads passive,spin,spare-core,spare-core-passive
    python bench/bench_tui_overhead.py --device cuda --per-class 1500 --epochs 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tui_terminal import LatencyProbe, Terminal, key_latency, latency_summary  # noqa: E402

from vit_tui import config as config_mod  # noqa: E402
from vit_tui.config import RunConfig, apply_overrides  # noqa: E402
from vit_tui.engine.runs.folder import RunFolder  # noqa: E402
from vit_tui.presets import preset  # noqa: E402
from vit_tui.tui.app import APP_THREAD_CHOICES  # noqa: E402  (imports neither torch nor the engine)

# torch-importing modules and the app are imported inside the functions, so an app child can set
# its process environment (prepare_environment) before torch loads, exactly as `vit-tui` does.

CHART_TOGGLE = LatencyProbe("c", lambda screen: "loss by epoch" in screen)
LATENCY_RUN_EPOCHS = 1000
"""The latency run is stopped (x) once its presses are done; it only has to outlast them."""
ENDED_MARKS = ("finished:", "interrupted:", "failed")
PRESS_GAPS_S = (0.2, 0.8)
"""Random pause before each latency press, seconds."""


def bench_config(dataset: Path | str, device: str, epochs: int, batch: int) -> RunConfig:
    """The fast preset on ``dataset``: what a newcomer trains from the app."""
    cfg = apply_overrides(
        preset("fast"), [f"train.epochs={epochs}", f"train.batch_size={batch}", f"train.device={device}"]
    )
    return replace(cfg, data=replace(cfg.data, dataset=str(dataset)))


def launcher() -> list[str]:
    """``vit-tui`` as installed beside this Python, else ``python -m vit_tui``."""
    entry = Path(sys.executable).with_name("vit-tui")
    return [str(entry)] if entry.exists() else [sys.executable, "-m", "vit_tui"]


def cli_command(args: argparse.Namespace, home: Path, run_dir: Path) -> list[str]:
    return [*launcher(), "train", "--preset", "fast", "--data", str(home / "data" / "demo"), "--out", str(run_dir),
            "--set", f"train.epochs={args.epochs}", "--set", f"train.batch_size={args.batch}",
            "--set", f"train.device={args.device}"]  # fmt: skip


def app_env(args: argparse.Namespace, choice: str) -> dict[str, str]:
    """What the app side gets on top of the bench's environment: its threading choice and UI rates."""
    env = {"VIT_TUI_APP_THREADS": choice}
    if args.app_fps:
        env["TEXTUAL_FPS"] = str(args.app_fps)
    if args.progress_rate:
        env["VIT_TUI_PROGRESS_RATE"] = str(args.progress_rate)
    return env


def epoch_seconds(run_dir: Path, expected: RunConfig) -> list[float]:
    """The run's engine-measured epoch seconds, once its saved config shows it trained ``expected``."""

    if _without_dataset(RunFolder(run_dir).read_config()) != _without_dataset(expected):
        raise SystemExit(f"{run_dir} trained another config than the bench's; compare its config.toml")
    return [row["seconds"] for row in RunFolder(run_dir).read_metrics()]


def _without_dataset(cfg: RunConfig) -> RunConfig:
    # Each side names the same demo set by its own path.
    return replace(cfg, data=replace(cfg.data, dataset=""))


def expected_config(args: argparse.Namespace) -> RunConfig:
    return bench_config("", args.device, args.epochs, args.batch)


def fresh_dir(home: Path, prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir=home))


# --- the headless harness -------------------------------------------------------------------


def cli_headless(args: argparse.Namespace, home: Path) -> list[float]:
    """One run of the real ``vit-tui train``, its output to a pipe."""
    run_dir = fresh_dir(home, "cli-") / "run"
    done = subprocess.run(cli_command(args, home, run_dir), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"vit-tui train failed:\n{done.stderr[-2000:]}")
    return epoch_seconds(run_dir, expected_config(args))


def app_headless(args: argparse.Namespace, home: Path, choice: str) -> list[float]:
    """One run in the app under Textual's headless driver, in a fresh process."""
    command = [sys.executable, __file__, "--child", "--home", str(home), "--device", args.device,
               "--epochs", str(args.epochs), "--batch", str(args.batch), "--size", args.size]  # fmt: skip
    env = {**os.environ, **app_env(args, choice)}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"in-app run ({choice}) failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _app_run(cfg: RunConfig, home: Path, size: tuple[int, int]) -> Path:
    from vit_tui.tui.app import VitApp

    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=size) as pilot:
        app.state.config = cfg
        await pilot.press("3", "t")
        train_screen = app.screen_named("train")
        while train_screen.status not in ("finished", "failed", "interrupted"):
            await pilot.pause(0.1)
        if train_screen.status != "finished":
            raise SystemExit(f"in-app run ended {train_screen.status}: {train_screen.last_error}")
        return train_screen.run_dir


def child(args: argparse.Namespace) -> int:
    """Train once in the app in this process and print the epoch seconds as JSON."""
    from vit_tui.tui.app import prepare_environment

    prepare_environment()  # what `vit-tui` does before the app starts
    home = Path(args.home)
    cfg = bench_config(home / "data" / "demo", args.device, args.epochs, args.batch)
    run_dir = asyncio.run(_app_run(cfg, home, parse_size(args.size)))
    print(json.dumps(epoch_seconds(run_dir, expected_config(args))))
    return 0


# --- the tmux harness -----------------------------------------------------------------------


def cli_tmux(args: argparse.Namespace, home: Path) -> list[float]:
    """One run of the real ``vit-tui train`` in a real terminal."""
    work = fresh_dir(home, "cli-")
    run_dir, exit_file = work / "run", work / "exit-code"
    command = f"{shlex.join(cli_command(args, home, run_dir))}; echo $? > {shlex.quote(str(exit_file))}"
    term = Terminal(command, {}, parse_size(args.size))
    try:
        term.wait_until_ended(args.timeout)
    finally:
        term.close()
    if not exit_file.exists() or exit_file.read_text().strip() != "0":
        code = exit_file.read_text().strip() if exit_file.exists() else "?"
        raise SystemExit(f"vit-tui train in tmux failed (exit {code}); to see why, run: {command}")
    return epoch_seconds(run_dir, expected_config(args))


def app_home(home: Path, args: argparse.Namespace, epochs: int) -> Path:
    """A fresh app home: the shared demo set under data/ and the bench config as vit-tui.toml."""
    app_dir = fresh_dir(home, "app-")
    (app_dir / "data").symlink_to(home / "data", target_is_directory=True)
    config_mod.save(bench_config("data/demo", args.device, epochs, args.batch), app_dir / "vit-tui.toml")
    return app_dir


def open_app_on_train(args: argparse.Namespace, app_dir: Path, choice: str) -> Terminal:
    """``vit-tui`` in tmux with the bench config loaded (2, ctrl+o), showing the Train screen (3)."""
    command = shlex.join([*launcher(), "--home", str(app_dir), "app"])
    term = Terminal(command, app_env(args, choice), parse_size(args.size))
    try:
        term.wait_for("demo", 60)
        term.keys("2")
        term.wait_for("Summary", 120)
        term.keys("C-o")
        term.wait_for("loaded", 30)
        term.keys("Escape", "3")
        term.wait_for("No run yet", 30)
    except BaseException:
        term.close()
        raise
    return term


def quit_app(term: Terminal) -> None:
    term.keys("C-q")
    try:
        term.wait_until_ended(120)
    finally:
        term.close()


def app_tmux(args: argparse.Namespace, home: Path, choice: str) -> list[float]:
    """One run in the app in a real terminal, started with the keys a user presses."""
    app_dir = app_home(home, args, args.epochs)
    term = open_app_on_train(args, app_dir, choice)
    try:
        term.keys("t")
        shown = _wait_for_end(term, args.timeout)
    except BaseException:
        term.close()
        raise
    quit_app(term)
    if "finished:" not in shown:
        raise SystemExit(f"in-app run ({choice}) in tmux did not finish; the screen:\n{shown}")
    (run_dir,) = [p.parent for p in (app_dir / "runs").glob("*/metrics.csv")]
    return epoch_seconds(run_dir, expected_config(args))


def _wait_for_end(term: Terminal, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = term.screen()
        if any(mark in shown for mark in ENDED_MARKS):
            return shown
        time.sleep(0.5)
    raise SystemExit(f"the in-app run did not end within {timeout_s:.0f}s; the screen:\n{term.screen()}")


def latency_tmux(args: argparse.Namespace, home: Path, choice: str) -> dict:
    """Key latency in the app in tmux: idle on the Train screen, then while training."""
    term = open_app_on_train(args, app_home(home, args, LATENCY_RUN_EPOCHS), choice)
    try:
        idle, idle_read = key_latency(term, CHART_TOGGLE, args.presses, PRESS_GAPS_S, args.give_up)
        term.keys("t")
        term.wait_for("img/s", 300)  # steps are running, not the dataset load
        training, training_read = key_latency(term, CHART_TOGGLE, args.presses, PRESS_GAPS_S, args.give_up)
        term.keys("x")
        term.wait_for("interrupted", 300)
    except BaseException:
        term.close()
        raise
    quit_app(term)
    return {
        "idle": latency_summary(idle),
        "training": latency_summary(training),
        "screen_read_ms": round(1000 * statistics.median([idle_read, training_read]), 2),
    }


# --- the runs -------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    columns, _, rows = text.lower().partition("x")
    return int(columns), int(rows)


def measure_harness(harness: str, args: argparse.Namespace, home: Path, choices: list[str]) -> dict:
    """Alternating runs of the command and each app choice in one harness, and their medians."""
    cli_run, app_run = (cli_headless, app_headless) if harness == "headless" else (cli_tmux, app_tmux)
    cli: list[float] = []
    apps: dict[str, list[float]] = {choice: [] for choice in choices}
    for _ in range(args.repeats):
        cli += cli_run(args, home)[1:]
        for choice in choices:
            apps[choice] += app_run(args, home, choice)[1:]
    cli_median = statistics.median(cli)
    return {
        "cli_median_epoch_s": round(cli_median, 4),
        "app_median_epoch_s": {c: round(statistics.median(s), 4) for c, s in apps.items()},
        "app_over_cli": {c: round(statistics.median(s) / cli_median, 4) for c, s in apps.items()},
        "cli_epochs_s": [round(s, 3) for s in cli],
        "app_epochs_s": {c: [round(x, 3) for x in s] for c, s in apps.items()},
    }


def thread_choices(text: str) -> list[str]:
    choices = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(choices) - set(APP_THREAD_CHOICES))
    if unknown or not choices:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(APP_THREAD_CHOICES)} (comma-separated)")
    return choices


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--per-class", type=int, default=300, help="demo training images per class")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is the warm-up")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="runs per side and harness")
    parser.add_argument("--harness", choices=("headless", "tmux", "both"), default="both")
    parser.add_argument("--size", default="120x40", help="terminal (or headless screen) columns x rows")
    parser.add_argument("--app-threads", type=thread_choices, default=["spin"], metavar="CHOICES",
                        help=f"VIT_TUI_APP_THREADS for the app side, one side per choice: {', '.join(APP_THREAD_CHOICES)}")  # fmt: skip
    parser.add_argument("--app-fps", type=int, default=0, help="TEXTUAL_FPS for the app (0: Textual's default)")
    parser.add_argument("--progress-rate", type=float, default=0.0,
                        help="VIT_TUI_PROGRESS_RATE for the app: live-view updates per second (0: the app's default)")  # fmt: skip
    parser.add_argument("--presses", type=int, default=50, help="key presses per latency phase in tmux (0: none)")
    parser.add_argument("--give-up", type=float, default=5.0, help="seconds after which a press counts as not shown")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one training run may take")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    os.environ.setdefault("VIT_TUI_CONFIG_DIR", tempfile.mkdtemp(prefix="vit-tui-bench-settings-"))
    if args.child:
        return child(args)
    harnesses = ["headless", "tmux"] if args.harness == "both" else [args.harness]
    with tempfile.TemporaryDirectory(prefix="vit-tui-bench-") as tmp:
        home = Path(tmp)
        from vit_tui.data.demo import make_demo

        make_demo(home / "data" / "demo", per_class_train=args.per_class, per_class_val=args.per_class // 4)
        start = time.perf_counter()
        result: dict = {"bench": "tui_overhead", "device": args.device, "images_per_epoch": 5 * args.per_class,
                        "epochs_per_run": args.epochs, "repeats": args.repeats, "size": args.size,
                        "app_env": {c: app_env(args, c) for c in args.app_threads}}  # fmt: skip
        for harness in harnesses:
            result[harness] = measure_harness(harness, args, home, args.app_threads)
        if "tmux" in harnesses and args.presses > 0:
            result["key_latency"] = {c: latency_tmux(args, home, c) for c in args.app_threads}
        result |= {
            "wall_s": round(time.perf_counter() - start, 1),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: each side's default)"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "command": " ".join(["python", *sys.argv]),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
