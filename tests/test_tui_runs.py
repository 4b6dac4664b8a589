"""Runs and evaluate screens in Pilot: the list, marking and comparing, resuming, evaluating."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable
from tui_fixtures import (
    CLASSES,
    make_fixed_run,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    wait_until,
)

from vit_tui.engine.runs.folder import RunFolder
from vit_tui.tui.app import VitApp
from vit_tui.tui.screens.compare import CompareScreen
from vit_tui.tui.screens.runs import RunDetailsRead, RunsScanned
from vit_tui.tui.widgets.confusion import ConfusionView
from vit_tui.tui.widgets.plot import ChartView


@pytest.fixture
def home(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    make_fixed_run(tmp_path / "runs", "ref-dlstudio", attention="dlstudio")
    make_fixed_run(tmp_path / "runs", "ref-einsum", attention="einsum", skill=0.1)
    make_fixed_run(tmp_path / "runs", "cut-short", status="interrupted", epochs=5, epochs_done=2, evaluated=False)
    return tmp_path


async def test_runs_listed_with_status_preset_and_best_accuracy(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        table = app.screen.query_one("#runs-table", DataTable)
        rows = {str(table.get_row_at(i)[1]): table.get_row_at(i) for i in range(table.row_count)}
        assert str(rows["cut-short"][2]) == "interrupted" and rows["cut-short"][4] == "2/5"
        assert str(rows["ref-einsum"][2]) == "finished" and rows["ref-einsum"][3] == "reference"
        assert rows["ref-einsum"][5] == "68.0%" and rows["ref-dlstudio"][5] == "58.0%"


async def test_mark_two_and_compare_side_by_side(home):
    app = VitApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        runs = app.screen
        names = [r.name for r in runs.runs]
        table = runs.query_one("#runs-table", DataTable)
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen), "compare needs two marked runs"
        for name in ("ref-dlstudio", "ref-einsum"):
            table.move_cursor(row=names.index(name))
            await pilot.press("space")
        assert [p.name for p in runs.marked] == ["ref-dlstudio", "ref-einsum"]
        await pilot.press("c")
        # Pushed first, composed after: wait for its charts, not only for the screen.
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.query("#compare-acc"), 30)
        compare = app.screen
        out = home / "compare" / "ref-dlstudio-vs-ref-einsum"
        assert {p.name for p in compare.files} >= {"comparison.csv", "comparison.md"}
        assert all(p.parent == out and p.is_file() for p in compare.files)
        views = list(compare.query(ConfusionView))
        await wait_until(pilot, lambda: all(v.class_names for v in views), 10)
        assert [v.class_names for v in views] == [CLASSES, CLASSES]
        loss = compare.query_one("#compare-loss", ChartView)
        assert [s.label for s in loss.series] == ["A ref-dlstudio", "B ref-einsum"]
        assert list(loss.series[1].y) == [round(1.1 - 0.2 * e - 0.05, 4) for e in (1, 2, 3)]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.name == "runs"


async def test_resume_refuses_a_finished_run(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        names = [r.name for r in app.screen.runs]
        app.screen.query_one("#runs-table", DataTable).move_cursor(row=names.index("ref-einsum"))
        await pilot.press("r")
        await pilot.pause()
        assert app.screen.name == "runs" and not app.screen_named("train").busy


async def test_enter_opens_the_evaluation_with_metrics_and_mistakes(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        names = [r.name for r in app.screen.runs]
        app.screen.query_one("#runs-table", DataTable).move_cursor(row=names.index("ref-dlstudio"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.name == "evaluate" and app.screen.evaluation is not None, 10)
        evaluate = app.screen
        assert evaluate.run_dir == home / "runs" / "ref-dlstudio"
        assert evaluate.query_one(ConfusionView).class_names == CLASSES
        assert abs(evaluate.evaluation.accuracy - 8 / 12) < 1e-9
        assert "66.7%" in str(evaluate.query_one("#eval-accuracy").render())
        mistakes = evaluate.query_one("#mistake-list")
        assert mistakes.option_count == 3
        caption = str(evaluate.query_one("#mistake-caption").render())
        assert "circle_val_000001.jpg" in caption and "said square" in caption
        assert evaluate.query_one("#mistake-thumb")._image is not None, "the mistake's image is shown"


async def test_evaluating_a_run_without_weights_fails_in_a_modal(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state.run_dir = home / "runs" / "cut-short"
        await pilot.press("4")
        await wait_until(pilot, lambda: app.screen.name != "evaluate", 30)
        assert "weights" in app.screen.message or "checkpoint" in app.screen.message
        assert app.screen.run_dir == home / "runs" / "cut-short"


async def _open_runs(app, pilot):
    """Switch to the Runs screen and wait for its three runs."""
    await pilot.press("5")
    await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
    return app.screen


def _detail_text(screen) -> str:
    """The detail pane's content as plain text."""
    import io

    from rich.console import Console

    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(screen.query_one("#run-detail-text").content)
    return console.export_text()


async def test_detail_pane_follows_the_highlighted_run(home):
    app = VitApp(home)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await _open_runs(app, pilot)
        names = [r.name for r in screen.runs]
        await wait_until(pilot, lambda: screen.details is not None and screen.details.path.name == names[0], 10)
        table = screen.query_one("#runs-table", DataTable)
        table.move_cursor(row=names.index("ref-einsum"))
        await wait_until(pilot, lambda: screen.details.path.name == "ref-einsum", 10)
        await pilot.pause()
        text = _detail_text(screen)
        assert "differs from preset reference" in text and "model.attention" in text and "einsum" in text
        assert "metrics.csv" in text and "evaluation.json" in text
        assert "val acc" in text and any(bar in text for bar in "▁▂▃▄▅▆▇█")


async def test_the_list_reads_only_changed_runs_and_updates_their_rows(home):

    app = VitApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_runs(app, pilot)
        listing = screen._listing
        reads = listing.reads
        screen.action_refresh()
        await wait_until(pilot, lambda: not screen.tasks.busy(RunsScanned), 10)
        assert listing.reads == reads, "an unchanged folder is not read again"
        run = home / "runs" / "cut-short"
        RunFolder(run).write_summary({**RunFolder(run).read_summary(), "epochs_done": 3, "status": "interrupted", "started": "changed"})
        screen.action_refresh()
        table = screen.query_one("#runs-table", DataTable)
        await wait_until(pilot, lambda: table.get_row(str(run))[4] == "3/5", 10)
        assert listing.reads == reads + 1


async def test_a_late_result_of_an_earlier_highlight_is_ignored(home):
    import threading

    from vit_tui.engine.runs.details import run_details

    app = VitApp(home)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open_runs(app, pilot)
        await wait_until(pilot, lambda: screen.details is not None, 10)
        first, second = screen.runs[0].path, screen.runs[1].path
        release = threading.Event()

        def slow_details(path):
            release.wait(10)
            return run_details(path)

        slow = screen.tasks.start(RunDetailsRead, slow_details, first)
        screen.query_one("#runs-table", DataTable).move_cursor(row=1)
        await wait_until(pilot, lambda: screen.details.path == second, 10)
        # The cursor goes back to the first run, but the slow read was replaced by a newer start.
        screen.tasks.start(RunDetailsRead, run_details, second)
        await wait_until(pilot, lambda: not screen.tasks.busy(RunDetailsRead), 10)
        release.set()
        await wait_until(pilot, lambda: not slow.is_running, 10)
        await pilot.pause(0.2)
        assert screen.details.path == second


async def test_slash_filters_the_list_s_sorts_it_and_escape_clears_the_filter(home):
    app = VitApp(home)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        runs = app.screen
        table = runs.query_one("#runs-table", DataTable)

        def names() -> list[str]:
            return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]

        await pilot.press("slash", *"acc>60")
        await wait_until(pilot, lambda: names() == ["ref-einsum"], 5)
        assert "filter 'acc>60': 1 of 3 runs" in str(runs.query_one("#runs-note").content)
        await pilot.press("enter")
        await pilot.pause()
        assert runs.query_one("#runs-filter").display and table.has_focus
        await pilot.press("escape")
        await pilot.pause()
        assert len(names()) == 3 and not runs.query_one("#runs-filter").display
        for _ in range(5):  # newest first, run, status, preset, epochs, acc
            await pilot.press("s")
        assert runs.sort_column == "acc"
        assert names() == ["ref-dlstudio", "cut-short", "ref-einsum"]  # 58%, 58%, 68%
        await pilot.press("S")
        assert names()[0] == "ref-einsum"
        await pilot.press("slash", *"colour=red")
        # Said while typed; the list keeps the last filter that read right (the plain word "colour").
        # Each key posts its own Changed message, so wait for the last one rather than one pause.
        await wait_until(pilot, lambda: "no column 'colour'" in str(runs.query_one("#runs-note").content), 5)
        assert runs.filter_text == "colour"


async def test_mark_three_and_compare_overlays_every_runs_curves_and_metrics(home):
    app = VitApp(home)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 3, 10)
        runs = app.screen
        table = runs.query_one("#runs-table", DataTable)
        for row in range(3):
            table.move_cursor(row=row)
            await pilot.press("space")
        assert len(runs.marked) == 3
        await pilot.press("c")
        # Pushed first, composed after: wait for its charts, not only for the screen.
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.query("#compare-acc"), 30)
        compare = app.screen
        names = [p.name for p in runs.marked]
        assert compare.files[0].parent.name == f"{names[0]}-vs-{names[1]}-and-1-more"
        for chart_id in ("#compare-loss", "#compare-acc"):
            series = compare.query_one(chart_id, ChartView).series
            assert [s.label for s in series] == [f"{tag} {name}" for tag, name in zip("ABC", names)]
        acc = {s.label.split()[1]: list(s.y) for s in compare.query_one("#compare-acc", ChartView).series}
        assert acc["cut-short"] == [0.48, 0.58] and len(acc["ref-einsum"]) == 3
        metrics = compare.query_one("#compare-metrics")
        header = [column.header for column in metrics.content.columns]
        assert header == ["", *(f"{tag} {name}" for tag, name in zip("ABC", names))]
        assert [list(column.cells)[5] for column in metrics.content.columns][1:] == ["3", "3", "2"]  # epochs
        assert len(compare.query(ConfusionView)) == 3


@pytest.mark.parametrize("size", [(80, 24), (100, 32)], ids=["80x24", "100x32"])
async def test_every_runs_cell_is_whole_in_narrow_terminals_and_the_footer_fits(home, size):
    from textual.widgets._footer import FooterKey
    from tui_fixtures import LONG_NAMES, make_long_named_runs

    make_long_named_runs(home)
    app = VitApp(home)
    async with app.run_test(size=size) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 9, 10)
        runs = app.screen
        table = runs.query_one("#runs-table", DataTable)
        table.move_cursor(row=next(i for i, row in enumerate(runs.rows) if row.study is not None))
        await pilot.press("right")
        await wait_until(pilot, lambda: len(runs.rows) == 10, 10)
        await pilot.pause()
        assert table.virtual_size.width <= table.scrollable_content_region.width, "no column runs past the edge"
        for index, row in enumerate(runs.rows):
            cells = [str(cell) for cell in table.get_row_at(index)]
            if row.run is None:
                continue
            best = f"{row.run.best_val_acc:.1%}" if row.run.best_val_acc is not None else "–"
            assert cells[2:6] == [row.run.status, row.run.preset, f"{row.run.epochs_done}/{row.run.epochs}", best]
            assert row.run.started.endswith(cells[6][-5:]) or row.run.started[5:10] == cells[6]
            name = cells[1].strip(" └")
            assert "…" in name or row.run.name.endswith(name), "a name is whole, or cut in the middle"
        names = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
        assert any(name.startswith(LONG_NAMES[1][:6]) and name.endswith(LONG_NAMES[1][-6:]) for name in names)
        assert " └ heads4-seed2" in names, "under its study a run shows what tells it apart"
        keys = list(app.screen.query(FooterKey))
        assert keys and all(key.region.right <= size[0] for key in keys)
        assert {"Attach", "Mark", "Compare"} <= {key.description for key in keys}
