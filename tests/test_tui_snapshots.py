"""Snapshots of every screen at five sizes, 80x24 to 220x60, on fixed data (tiny dataset, fixed run folders).

Update with ``pytest tests/test_tui_snapshots.py --snapshot-update`` after an intended change, and
look at the SVGs in ``tests/__snapshots__`` before committing them.
"""

from __future__ import annotations

import pytest
from tui_fixtures import (
    LONG_NAMES,
    make_fixed_run,
    make_fixed_study,
    make_long_named_runs,
    make_tiny_dataset,
    wait_until,
)

from vit_tui.tui.app import VitApp
from vit_tui.tui.settings import SETTINGS_ENV

SIZES = [pytest.param(size, id=f"{size[0]}x{size[1]}") for size in [(80, 24), (100, 32), (120, 40), (160, 50), (220, 60)]]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings"))
    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "ref-dlstudio", attention="dlstudio")
    make_fixed_run(tmp_path / "runs", "ref-einsum", attention="einsum", skill=0.1, started="2024-05-02 09:30:00")
    make_fixed_run(tmp_path / "runs", "cut-short", status="interrupted", epochs=5, epochs_done=2, evaluated=False,
                   started="2024-05-03 18:05:00")  # fmt: skip
    return tmp_path


@pytest.fixture
def crowded(home):
    """The home with generated and sweep-style run names too: the names that do not fit narrow terminals."""
    make_long_named_runs(home)
    return home


@pytest.mark.parametrize("size", SIZES)
def test_data_screen(snap_compare, home, size):
    app = VitApp(home)

    async def settle(pilot):
        # The data folder is listed in a worker: wait for the list and the sample thumbnails.
        await wait_until(pilot, lambda: len(app.screen.query(".sample-thumb")) == 3, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_model_screen(snap_compare, home, size):
    app = VitApp(home)

    async def open_model(pilot):
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.name == "model" and "Summary" in app.screen.summary_text, 60)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_model)


@pytest.mark.parametrize("size", SIZES)
def test_train_screen_following_a_finished_run(snap_compare, home, size):
    app = VitApp(home)

    async def attach(pilot):
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        table = app.screen.query_one("#runs-table")
        table.move_cursor(row=[r.name for r in app.screen.runs].index("ref-dlstudio"))
        await pilot.press("a")
        await wait_until(pilot, lambda: app.screen_named("train").status == "finished", 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=attach)


@pytest.mark.parametrize("size", SIZES)
def test_evaluate_screen(snap_compare, crowded, size):
    app = VitApp(crowded)

    async def evaluate(pilot):
        app.state.run_dir = crowded / "runs" / LONG_NAMES[1]
        await pilot.press("4")
        await wait_until(pilot, lambda: app.screen.name == "evaluate" and app.screen.evaluation is not None, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=evaluate)


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare, crowded, size):
    app = VitApp(crowded)

    async def runs(pilot):
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 9, 10)
        table = app.screen.query_one("#runs-table")
        table.move_cursor(row=next(i for i, row in enumerate(app.screen.rows) if row.study is not None))
        await pilot.press("right")  # the sweep's runs, named <sweep>-heads<h>-seed<s>, under its row
        await wait_until(pilot, lambda: len(app.screen.rows) == 10, 10)
        table.move_cursor(row=0)
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=runs)


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen(snap_compare, home, size):
    app = VitApp(home)

    async def compare(pilot):
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        app.screen.marked = [home / "runs" / "ref-dlstudio", home / "runs" / "ref-einsum"]
        await pilot.press("c")
        await wait_until(pilot, lambda: app.screen.name == "compare", 30)
        await wait_until(pilot, lambda: all(v.class_names for v in app.screen.query("ConfusionView")), 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=compare)


def test_runs_screen_with_a_sweep_group(snap_compare, home):
    make_fixed_study(home, "sweep-fast-ab12")
    app = VitApp(home)

    async def runs(pilot):
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.rows) == 4, 10)
        table = app.screen.query_one("#runs-table")
        table.move_cursor(row=next(i for i, row in enumerate(app.screen.rows) if row.study is not None))
        await pilot.press("right")
        await wait_until(pilot, lambda: len(app.screen.rows) == 8, 10)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=runs)
