"""Studies in the app, in Pilot: sweep groups on the Runs screen, the leaderboard and the two-combination
verdict, the course experiment started from its dialog with its progress, stopping it, the processes
field on the Model screen, and the Data screen's listing off the UI thread.
"""

from __future__ import annotations

import io
import json
import threading
from functools import partial

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import DataTable, Input, Select
from tui_fixtures import (
    make_fixed_run,
    make_fixed_study,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    tiny_config,
    wait_until,
)

from vit_tui.engine.runs.folder import RunFolder
from vit_tui.study.results import compare_combinations, leaderboard
from vit_tui.study.stats import pm
from vit_tui.tui.app import VitApp
from vit_tui.tui.screens import data as data_screen
from vit_tui.tui.screens.data import DatasetsListed
from vit_tui.tui.screens.modals import HelpScreen, QuitWhileTraining
from vit_tui.tui.screens.model import DevicesCounted, ModelScreen
from vit_tui.tui.screens.study_dialogs import ReproduceDialog
from vit_tui.tui.widgets.study_progress import StudyProgress

GROUP = "sweep-fast-ab12"



@pytest.fixture
def home(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "plain-run", attention="einsum")
    make_fixed_study(tmp_path, GROUP)
    return tmp_path


def row_names(screen) -> list[str]:
    table = screen.query_one("#runs-table", DataTable)
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


def plain(renderable) -> str:
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


async def open_runs(pilot, app, rows: int):
    await pilot.press("5")
    await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.rows) == rows, 10)
    return app.screen


def move_to(screen, name: str) -> None:
    labels = [row.run.name if row.run is not None else shown for row, shown in zip(screen.rows, row_names(screen))]
    screen.query_one("#runs-table", DataTable).move_cursor(row=labels.index(name))


async def test_a_sweeps_runs_sit_under_one_row_that_expands_and_collapses(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        runs = await open_runs(pilot, app, 2)
        best = leaderboard(home / "sweeps" / GROUP)[0]
        table = runs.query_one("#runs-table", DataTable)
        group = next(i for i, n in enumerate(row_names(runs)) if GROUP in n)
        assert row_names(runs)[group] == f"▸ {GROUP} · 4 runs"
        assert table.get_row_at(group)[5] == pm(best.accuracies) and "±" in pm(best.accuracies)
        table.move_cursor(row=group)
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(runs.rows) == 6, 5)
        assert row_names(runs)[group] == f"▾ {GROUP} · 4 runs"
        members = row_names(runs)[group + 1 : group + 5]
        # Under the study's row a run shows what tells it apart: its name less the study's.
        assert sorted(n.strip(" └") for n in members) == ["heads2-seed1", "heads2-seed2", "heads4-seed1", "heads4-seed2"]
        assert all(n.startswith(" └ ") for n in members)
        table.move_cursor(row=group + 2)
        await pilot.press("left")
        await wait_until(pilot, lambda: len(runs.rows) == 2, 5)
        assert runs.selected_study() is not None and table.cursor_row == group
        await pilot.press("right")
        await wait_until(pilot, lambda: len(runs.rows) == 6, 5)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), 5)
        described = dict(app.screen.rows)
        assert {"Expand a study", "Collapse a study", "Reproduce", "Stop the study"} <= set(described.values())


async def test_the_group_row_shows_the_leaderboard_and_two_combinations_get_a_verdict(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(160, 50)) as pilot:
        runs = await open_runs(pilot, app, 2)
        move_to(runs, f"▸ {GROUP} · 4 runs")
        board = leaderboard(home / "sweeps" / GROUP)
        await wait_until(pilot, lambda: "heads=4" in plain(runs.query_one("#run-detail-text").content), 5)
        detail = plain(runs.query_one("#run-detail-text").content)
        lines = [line for line in detail.splitlines() if line.strip().startswith("heads=")]
        assert [line.split()[0] for line in lines] == [c.label for c in board], "best mean first"
        for line, combo in zip(lines, board):
            assert pm(combo.accuracies) in line and f"{combo.params:,}" in line
        await pilot.press("right")
        await wait_until(pilot, lambda: len(runs.rows) == 6, 5)
        for name in (f"{GROUP}-heads2-seed1", f"{GROUP}-heads4-seed2"):
            move_to(runs, name)
            await pilot.press("space")
        await pilot.press("c")
        await pilot.pause()
        expected = compare_combinations(*[next(c for c in board if c.label == label) for label in ("heads=2", "heads=4")])
        assert runs.verdict == expected.text and "seed-to-seed spread" in runs.verdict
        assert runs.verdict in str(runs.query_one("#runs-note").content)
        assert app.screen is runs, "two combinations are judged, not opened side by side"


async def test_a_sweep_started_in_the_app_shows_its_progress_and_lists_its_runs_grouped(tmp_path):
    from vit_tui.study.api import sweep

    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path, offer_demo=False)
    base = tiny_config(str(tmp_path / "data" / "tiny"))
    async with app.run_test(size=(120, 40)) as pilot:
        runs = await open_runs(pilot, app, 0)
        progress = runs.query_one(StudyProgress)
        runs.start_study("sweep", partial(sweep, tmp_path, base, [("model.heads", ["2", "4"])], [1], out=tmp_path / "sw"))
        seen: set[str] = set()

        def ended() -> bool:
            seen.add(progress.text)
            return not runs.study_running

        await wait_until(pilot, ended, 60)
        await wait_until(pilot, lambda: len(runs.rows) == 1 and runs.rows[0].study is not None, 10)
        assert any("run 1/2 heads=2 seed 1" in text for text in seen)
        assert any("1/2 runs done" in text and "run 2/2 heads=4" in text for text in seen)
        assert any("epoch 1/1" in text for text in seen) or any("epoch 0/1" in text for text in seen)
        assert not progress.display
        assert str(tmp_path / "sw" / "sweep.md") in [n.message for n in app._notifications][-1]
        assert str(runs.query_one("#runs-table", DataTable).get_row_at(0)[1]) == "▸ sw · 2 runs"


async def test_reproduce_from_the_palette_and_the_key_trains_both_presets_and_groups_them(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), 5)
        await pilot.press(*"Reproduce the course")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReproduceDialog), 10)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.name == "runs", 5)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ReproduceDialog), 10)
        dialog = app.screen
        assert dialog.query_one("#reproduce-data", Select).value == str(tmp_path / "data" / "tiny")
        dialog.query_one("#reproduce-seeds", Input).value = "1,x"
        dialog.query_one("#reproduce-epochs", Input).value = "1"
        dialog.action_start()
        await pilot.pause()
        assert "seeds: expected whole numbers" in str(dialog.query_one("#reproduce-problem").content)
        dialog.query_one("#reproduce-seeds", Input).value = "1"
        dialog.action_start()
        runs = app.screen_named("runs")
        await wait_until(pilot, lambda: app.screen is runs and runs.study_running, 5)
        await wait_until(pilot, lambda: not runs.study_running, 120)
        out = tmp_path / "reproduce"
        assert (out / "comparison.md").is_file()
        assert str(out / "comparison.md") in [n.message for n in app._notifications][-1]
        await wait_until(pilot, lambda: len(runs.rows) == 1, 10)
        assert str(runs.query_one("#runs-table", DataTable).get_row_at(0)[1]) == "▸ reproduce · 2 runs"
        labels = {json.loads(p.read_text())["label"] for p in (tmp_path / "runs").glob("*/study.json")}
        assert labels == {"reference", "reference-einsum"}


async def test_a_study_stops_when_asked_and_quitting_asks_first(tmp_path):
    from vit_tui.study.api import sweep

    make_tiny_dataset(tmp_path / "data", train_per_class=60)
    app = VitApp(tmp_path, offer_demo=False)
    base = tiny_config(str(tmp_path / "data" / "tiny"), ["train.epochs=1000", "train.batch_size=4"])
    async with app.run_test(size=(120, 40)) as pilot:
        runs = await open_runs(pilot, app, 0)
        runs.start_study("sweep", partial(sweep, tmp_path, base, [("model.heads", ["2"])], [1], out=tmp_path / "sw"))
        await wait_until(pilot, lambda: "epoch 1/1000" in runs.query_one(StudyProgress).text, 60)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining), 5)
        assert "Detach" not in [str(b.label) for b in app.screen.query("Button")]
        await pilot.press("escape")
        await pilot.pause()
        assert runs.study_running, "esc keeps it running"
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining), 5)
        await pilot.press("s")
        await wait_until(pilot, lambda: not app.is_running, 60)
    run_dir = tmp_path / "runs" / "sw-heads2-seed1"
    assert RunFolder(run_dir).read_summary()["status"] == "interrupted"
    assert (run_dir / "weights" / "resume.pt").is_file()


async def test_processes_field_shows_only_with_several_devices(tmp_path, monkeypatch):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        model = app.screen
        await wait_until(pilot, lambda: not model.tasks.busy(DevicesCounted), 30)
        await pilot.pause()
        assert not model.query_one("#processes", Select).display and model.processes == 1
    monkeypatch.setattr(ModelScreen, "count_devices", staticmethod(lambda: 2))
    app = VitApp(tmp_path, offer_demo=False)
    app.config = tiny_config("data/tiny", ["train.batch_size=8"])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        model = app.screen
        field = model.query_one("#processes", Select)
        await wait_until(pilot, lambda: field.display, 10)
        assert [str(prompt) for prompt, _ in field._options] == ["1 process", "2 processes"]
        field.value = 2
        await pilot.press("ctrl+r")
        train = app.screen_named("train")
        await wait_until(pilot, lambda: app.screen is train and train.following, 60)
        await wait_until(pilot, lambda: train.status in ("finished", "failed", "interrupted"), 120)
        assert train.status == "finished", train.last_error
        assert RunFolder(train.run_dir).read_summary()["world_size"] == 2


async def test_the_data_screen_lists_in_a_worker_so_keys_work_meanwhile(tmp_path, monkeypatch):
    make_tiny_dataset(tmp_path / "data")
    release = threading.Event()
    real_listing = data_screen._list_datasets

    def slow_listing(*args):
        release.wait(10)
        return real_listing(*args)

    monkeypatch.setattr(data_screen, "_list_datasets", slow_listing)
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(100, 30)) as pilot:
        data = app.screen
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.name == "model", 5)
        assert data.datasets == [] and data.tasks.busy(DatasetsListed)
        release.set()
        await wait_until(pilot, lambda: [p.name for p in data.datasets] == ["tiny"], 10)



async def test_a_study_that_ends_in_the_app_rings_and_sends_a_desktop_notification(tmp_path, monkeypatch):
    from vit_tui.study.api import sweep

    for name in ("TMUX", "VTE_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path, offer_demo=False)
    base = tiny_config(str(tmp_path / "data" / "tiny"))
    async with app.run_test(size=(100, 32)) as pilot:
        runs = await open_runs(pilot, app, 0)
        runs.start_study("sweep", partial(sweep, tmp_path, base, [("model.heads", ["2"])], [1], out=tmp_path / "sw"))
        await wait_until(pilot, lambda: not runs.study_running, 60)
        await pilot.pause()
        assert app.alerts == [f"\x07\x1b]9;vit-tui: study finished: The study has finished: {tmp_path / 'sw' / 'sweep.md'}\x07"]


async def test_w_opens_the_sweep_dialog_which_checks_the_whole_plan_before_anything_starts(tmp_path):
    from textual.widgets import TextArea

    from vit_tui.tui.screens.study_dialogs import SweepDialog

    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        app.state.config = tiny_config("data/tiny")
        runs = await open_runs(pilot, app, 0)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, SweepDialog), 5)
        dialog = app.screen
        dialog.query_one("#sweep-grid", TextArea).load_text("model.heads=2,3")  # 3 heads do not divide 16
        dialog.query_one("#sweep-seeds", Input).value = "1"
        await pilot.press("ctrl+s")
        await pilot.pause()
        problem = str(dialog.query_one("#sweep-problem").content)
        assert app.screen is dialog and "model.heads" in problem, problem
        dialog.query_one("#sweep-devices", Input).value = "tpu:0"
        dialog.query_one("#sweep-grid", TextArea).load_text("model.heads=2,4\n")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert str(dialog.query_one("#sweep-problem").content).startswith("devices: unknown device 'tpu:0'")
        assert not (tmp_path / "sweeps").exists() and not (tmp_path / "runs").exists(), "nothing written yet"
        dialog.query_one("#sweep-devices", Input).value = ""
        progress = runs.query_one(StudyProgress)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is not dialog, 10)
        assert app.screen is runs, str(dialog.query_one("#sweep-problem").content)
        await wait_until(pilot, lambda: progress.ended == 2 and not runs.study_running, 90)
        await wait_until(pilot, lambda: len(runs.rows) == 1 and runs.rows[0].study is not None, 10)
        assert progress.total == 2 and not progress.display
        assert sorted(p.name for p in (tmp_path / "sweeps").iterdir())[0].startswith("sweep-fast-")
        assert len(runs.rows[0].study.runs) == 2


async def test_the_study_progress_line_shows_the_studys_eta(tmp_path):
    from tui_fixtures import _epoch

    from vit_tui.engine.telemetry.events import RunStarted
    from vit_tui.study.events import JobStarted, StudyStarted

    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        runs = await open_runs(pilot, app, 0)
        progress = runs.query_one(StudyProgress)
        progress.begin("sweep")
        progress.show(StudyStarted("sweep", "sw", str(tmp_path / "sw"), 4, 0, ()))
        progress.show(JobStarted(1, 4, str(tmp_path / "runs" / "a"), "heads=2", 1, "new", "cpu"))
        progress.show(RunStarted(
            run_dir="", name="a", preset="fast", classes=("a",), epochs=2, start_epoch=0, steps_per_epoch=3,
            train_images=36, val_images=12, params=1, device="cpu", precision="fp32", step_path="eager", pid=0,
            started=0.0,
        ))  # fmt: skip
        assert "ETA" not in progress.text, "nothing timed yet"
        progress.show(_epoch(1, 2, 0.0))  # 12.5 s: this run has 12.5 s left, three more runs of 25 s each
        assert "study ETA 1m 28s" in progress.text
