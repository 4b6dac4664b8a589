"""Train screen in Pilot: the full flow, stopping, quitting while training, failures, attaching, races."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from tui_fixtures import (
    make_fixed_run,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    tiny_config,
    wait_until,
)

from vit_tui import config as config_mod
from vit_tui.data.demo import DEMO_CLASSES
from vit_tui.engine.parallel import detach as detach_mod
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import EpochEnded, RunFinished, RunStarted
from vit_tui.tui.app import VitApp
from vit_tui.tui.bridge import MessageSink
from vit_tui.tui.messages import TrainEvent, TrainingEnded, TrainProgress
from vit_tui.tui.screens import train as train_screen_mod
from vit_tui.tui.screens.modals import DemoOffer, FailureScreen, QuitWhileTraining
from vit_tui.tui.widgets.confusion import ConfusionView
from vit_tui.tui.widgets.epochs import EpochTable


@pytest.mark.slow
async def test_full_flow_demo_train_evaluate_export(tmp_path):
    config_mod.save(tiny_config("data/demo", ["model.image_size=64", "model.patch_size=16"]), tmp_path / "vit-tui.toml")
    messages = []
    app = VitApp(tmp_path, demo_options={"per_class_train": 12, "per_class_val": 6})
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DemoOffer), 10)
        await pilot.press("d")
        await wait_until(pilot, lambda: bool(app.screen_named("data").datasets), 60)
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.name == "model", 30)
        await pilot.press("ctrl+o")  # loads vit-tui.toml from the home folder
        await pilot.pause()
        assert app.state.config.train.epochs == 1
        await pilot.press("escape", "3", "t")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.status == "finished", 120)
        assert len(train.history) == 1 and train.query_one(EpochTable).row_count == 1
        assert train.query_one(EpochTable).best_epoch == 1
        run_dir = train.run_dir
        assert run_dir is not None and run_dir.parent == tmp_path / "runs"
        await pilot.press("4")
        evaluate = app.screen_named("evaluate")
        await wait_until(pilot, lambda: evaluate.evaluation is not None, 60)
        confusion = evaluate.query_one(ConfusionView)
        assert confusion.class_names == list(DEMO_CLASSES)
        table_text = _text_of(app, confusion.query_one(".confusion-text"))
        assert all(name in table_text for name in DEMO_CLASSES)
        assert sum(map(sum, evaluate.evaluation.confusion.tolist())) == 5 * 6
        await pilot.press("e")
        await wait_until(pilot, lambda: bool(evaluate.exported), 60)
        names = {p.name for p in evaluate.exported}
        assert {"confusion_matrix.csv", "confusion_matrix.png", "curves.png", "report.md"} <= names
        assert all(p.is_file() and p.parent == run_dir for p in evaluate.exported)
    messages = list({id(m): m for m in messages}.values())  # a bubbling message is seen at each node
    train_events = [m.event for m in messages if isinstance(m, TrainEvent)]
    assert any(isinstance(e, RunStarted) for e in train_events)
    assert [e.epoch for e in train_events if isinstance(e, EpochEnded)] == [1]
    assert isinstance([e for e in train_events if isinstance(e, RunFinished)][0], RunFinished)
    assert any(isinstance(m, TrainProgress) for m in messages)
    assert [m.status for m in messages if isinstance(m, TrainingEnded)] == ["finished"]


def _text_of(app, widget) -> str:
    """What a widget shows, as plain text."""
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


async def _start_long_run(app, pilot, home):
    app.state.config = tiny_config("data/tiny", ["train.epochs=400"])
    await pilot.press("3", "t")
    train = app.screen_named("train")
    await wait_until(pilot, lambda: train.status == "training", 90)
    return train


@pytest.mark.slow
async def test_x_stops_with_a_resumable_checkpoint(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        train = await _start_long_run(app, pilot, tmp_path)
        await pilot.press("x")
        await wait_until(pilot, lambda: train.status == "interrupted", 60)
        assert not train.training_in_app
        assert RunFolder(train.run_dir).read_summary()["status"] == "interrupted"
        assert (train.run_dir / "weights").is_dir() and any((train.run_dir / "weights").iterdir())


@pytest.mark.slow
async def test_quit_while_training_asks_and_stop_saves(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        train = await _start_long_run(app, pilot, tmp_path)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining), 5)
        await pilot.press("escape")
        await pilot.pause()
        assert train.training_in_app, "cancel keeps training"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining), 5)
        await pilot.press("s")
        await wait_until(pilot, lambda: not app.is_running, 60)
    assert RunFolder(train.run_dir).read_summary()["status"] == "interrupted"


async def test_failure_shows_a_modal_with_the_message_and_the_app_stays_up(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.config = tiny_config("data/missing")
        await pilot.press("3", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), 60)
        assert "missing" in app.screen.message
        assert app.screen_named("train").status == "failed"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.name == "train" and app.is_running


async def test_attach_replays_a_runs_events_into_the_train_view(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "ref-a")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and bool(app.screen.runs), 10)
        await pilot.press("a")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.status == "finished", 10)
        assert [row.epoch for row in train.history] == [1, 2, 3]
        assert train.query_one(EpochTable).best_epoch == 2
        assert not train.following, "a finished run is not polled any more"
        assert app.state.run_dir == tmp_path / "runs" / "ref-a"


@pytest.mark.slow
async def test_d_trains_detached_and_the_view_follows_it(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.config = tiny_config("data/tiny", ["train.epochs=2"])
        await pilot.press("3", "d")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.following, 90)
        await wait_until(pilot, lambda: train.status == "finished", 120)
        assert [row.epoch for row in train.history] == [1, 2]
        summary = RunFolder(train.run_dir).read_summary()
        assert summary["status"] == "finished" and summary["pid"] != 0


# --- races: each test below makes the window real (a late message, a slow writer) with the real engine


@pytest.mark.slow
async def test_quit_and_detach_starts_one_detached_trainer(tmp_path, monkeypatch):
    make_tiny_dataset(tmp_path / "data")
    starts = []
    real_start = detach_mod.start_detached

    def counting_start(cfg, **kwargs):
        starts.append(kwargs.get("resume"))
        return real_start(cfg, **kwargs)

    monkeypatch.setattr(detach_mod, "start_detached", counting_start)
    app = VitApp(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            train = await _start_long_run(app, pilot, tmp_path)
            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining), 5)
            await pilot.press("d")
            await wait_until(pilot, lambda: not app.is_running, 120)
        assert starts == [train.run_dir], "the stopped run is resumed detached exactly once"
        summary = RunFolder(train.run_dir).read_summary()
        assert summary["status"] == "running" and summary["pid"] not in (0, os.getpid())
    finally:
        _end_detached(starts)


def _end_detached(run_dirs) -> None:
    """Stop the detached trainers a test started (they would train on after it)."""
    for run_dir in {d for d in run_dirs if d is not None}:
        pid = int(RunFolder(run_dir).read_summary().get("pid", 0))
        if pid and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


@pytest.mark.slow
async def test_a_late_end_of_an_earlier_run_leaves_the_next_run_alone(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        train = app.screen_named("train")
        deliver = train.post_message
        held: list[TrainingEnded] = []

        def late_end(message):
            if isinstance(message, TrainingEnded) and not held:
                held.append(message)  # the first run's end arrives only after the next run started
                return True
            return deliver(message)

        train.post_message = late_end
        app.state.config = tiny_config("data/tiny")
        await pilot.press("3", "t")
        await wait_until(pilot, lambda: bool(held) and not train.training_in_app, 90)
        first_run = held[0].run_dir
        app.state.config = tiny_config("data/tiny", ["train.epochs=400"])
        await pilot.press("t")
        await wait_until(pilot, lambda: train.status == "training" and train.run_dir != first_run, 90)
        deliver(held[0])
        await pilot.pause(0.5)
        assert train.training_in_app and train.status == "training", "the late end did not orphan the new run"
        await pilot.press("x")
        await wait_until(pilot, lambda: train.status == "interrupted" and not train.training_in_app, 60)
        assert train.run_dir != first_run and RunFolder(train.run_dir).read_summary()["status"] == "interrupted"


@pytest.mark.slow
async def test_a_failure_before_the_run_started_names_no_earlier_run(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.config = tiny_config("data/tiny")
        await pilot.press("3", "t")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.status == "finished" and not train.training_in_app, 90)
        assert train.run_dir is not None
        app.state.config = tiny_config("data/missing")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), 60)
        assert "missing" in app.screen.message
        assert app.screen.run_dir is None and train.run_dir is None, "no run folder was made for this run"


@pytest.mark.slow
async def test_quit_just_after_the_run_finished_waits_for_its_files_and_asks_nothing(tmp_path, monkeypatch):
    make_tiny_dataset(tmp_path / "data")
    release = threading.Event()

    class SlowAfterTheEnd(MessageSink):
        """The run's end reaches the screen while its worker is still busy (as while it writes its files)."""

        def __call__(self, event) -> None:
            super().__call__(event)
            if isinstance(event, RunFinished):
                release.wait(60)

    monkeypatch.setattr(train_screen_mod, "MessageSink", SlowAfterTheEnd)
    app = VitApp(tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            app.state.config = tiny_config("data/tiny")
            await pilot.press("3", "t")
            train = app.screen_named("train")
            await wait_until(pilot, lambda: train.status == "finished", 90)
            assert train.training_in_app, "the worker has not returned yet"
            await pilot.press("ctrl+q")
            await pilot.pause(0.3)
            assert not isinstance(app.screen, QuitWhileTraining), "a finished run is not offered to be stopped"
            assert app.is_running, "the app waits for the run's worker"
            release.set()
            await wait_until(pilot, lambda: not app.is_running, 30)
    finally:
        release.set()
    assert RunFolder(train.run_dir).read_summary()["status"] == "finished"
    assert (train.run_dir / "report.md").is_file()


async def test_s_smooths_the_step_sparkline_and_the_charts_and_is_remembered(tmp_path):
    from textual.widgets import Sparkline

    from vit_tui.engine.telemetry.smoothing import ema
    from vit_tui.tui.settings import load_settings
    from vit_tui.tui.widgets.plot import ChartView
    from vit_tui.tui.widgets.sparkline import LabelledSparkline

    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "ref-a")
    app = VitApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and bool(app.screen.runs), 10)
        await pilot.press("a")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.status == "finished", 10)
        spark = train.query_one("#loss-spark", LabelledSparkline)
        raw = list(spark.values)
        assert spark.query_one(Sparkline).data == raw and len(raw) == 9
        for weight in (0.6, 0.9):
            await pilot.press("s")
            await pilot.pause()
            assert app.smoothing == weight and spark.query_one(Sparkline).data == ema(raw, weight)
        chart = train.query_one("#train-chart", ChartView)
        assert chart.smoothing == 0.9 and "smoothed 0.9" in chart.content.renderables[0].plain
        assert load_settings()["smoothing"] == 0.9
    again = VitApp(tmp_path)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.smoothing == 0.9


@pytest.mark.parametrize(
    ("settings", "lr", "title", "written"),
    [
        pytest.param({}, "2e-4", "vit-tui: run finished", "\x07\x1b]9;vit-tui: run finished: ", id="finished-all-ways"),
        pytest.param({}, "1e30", "vit-tui: run failed", "\x07\x1b]9;vit-tui: run failed: ", id="non-finite-loss"),
        pytest.param({"notify_toast": False, "notify_desktop": False}, "2e-4", None, "\x07", id="bell-only"),
        pytest.param({"notify_dialect": "osc777", "notify_bell": False}, "2e-4", "vit-tui: run finished",
                     "\x1b]777;notify;vit-tui: run finished;", id="osc777-no-bell"),  # fmt: skip
    ],
)
async def test_a_run_that_ends_in_the_app_is_told_as_the_settings_say(tmp_path, monkeypatch, settings, lr, title,
                                                                     written):  # fmt: skip
    import json

    from vit_tui.tui.settings import settings_path

    for name in ("TMUX", "VTE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps(settings))
    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "ref-a")
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and bool(app.screen.runs), 10)
        await pilot.press("a")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: train.status == "finished", 10)
        assert app.alerts == [], "an ending already in the events file when following began is not news"
        app.state.config = tiny_config("data/tiny", [f"train.lr={lr}"])
        await pilot.press("t")
        await wait_until(pilot, lambda: train.status in ("finished", "failed") and not train.training_in_app, 60)
        assert len(app.alerts) == 1 and app.alerts[0].startswith(written)
        toasts = [n.title for n in app._notifications]
        assert (title in toasts) if title else not any(t and t.startswith("vit-tui:") for t in toasts)


async def test_the_status_line_shows_the_whole_runs_eta(tmp_path):
    from tui_fixtures import _epoch

    from vit_tui.engine.telemetry.events import StepsLogged

    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        train = app.screen_named("train")
        train.show_event(RunStarted(
            run_dir=str(tmp_path / "runs" / "r"), name="r", preset="fast", classes=("a", "b"), epochs=3, start_epoch=0,
            steps_per_epoch=3, train_images=36, val_images=12, params=1, device="cpu", precision="fp32",
            step_path="eager", pid=0, started=0.0,
        ))  # fmt: skip
        train.show_event(_epoch(1, 3, 0.0))  # 12.5 s an epoch
        status = lambda: str(train.query_one("#train-status").content)  # noqa: E731
        assert "run ETA 25s" in status()
        train.show_event(StepsLogged(2, 1, 3, 4, 0.5, 0.5, 2e-4, 100.0, 4.0))
        assert "run ETA 21s" in status()
        train.show_event(RunFinished("finished", str(tmp_path / "runs" / "r"), 3, 2, 0.6, 0.6, 37.5))
        await pilot.pause()
        assert "ETA" not in status()
