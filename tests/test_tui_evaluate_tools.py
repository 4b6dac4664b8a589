"""The Evaluate screen's model tools in Pilot, on a tiny trained run: attention, predictions, model export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable, Input
from tui_fixtures import (
    make_fixed_run,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    tiny_config,
    wait_until,
)

from vit_tui.engine.infer.attention_maps import rollout_grid
from vit_tui.engine.infer.metrics import load_evaluation
from vit_tui.engine.infer.model import open_run
from vit_tui.engine.infer.predict import predict_paths, read_predictions_csv
from vit_tui.engine.telemetry.events import null_sink
from vit_tui.engine.train.trainer import train
from vit_tui.tui.actions import MAIN_ACTIONS
from vit_tui.tui.app import VitApp
from vit_tui.tui.screens.evaluate_predict import PredictionsReady
from vit_tui.tui.screens.export_model import ExportModelQuestion
from vit_tui.tui.screens.modals import HelpScreen
from vit_tui.tui.widgets.heatmap import AttentionHeatMap
from vit_tui.tui.widgets.predictions import PredictionsPanel


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A tiny dataset, one-epoch runs of it (``tiny``, the CNN ``cnn``), a fixed run to switch to, and a folder of photos."""
    root = tmp_path_factory.mktemp("home")
    data = make_tiny_dataset(root / "data")
    train(tiny_config(str(data)), null_sink, runs_root=root / "runs", name="tiny")
    cnn = tiny_config(str(data), ["model.arch=resnet18", "model.width=4"])
    train(cnn, null_sink, runs_root=root / "runs", name="cnn")
    make_fixed_run(root / "runs", "other", dataset=str(data))
    photos = root / "photos" / "nested"
    photos.mkdir(parents=True)
    for source in sorted((data / "val").glob("*.jpg"))[::4]:
        shutil.copy(source, photos / source.name)
    return root


async def open_evaluate(app: VitApp, pilot, run: Path) -> None:
    app.run_dir = run
    await pilot.press("4")
    await wait_until(pilot, lambda: app.screen.name == "evaluate" and app.screen.evaluation is not None)


async def predict(pilot, app: VitApp, path: str) -> PredictionsPanel:
    screen = app.screen
    if not screen.predictions_shown:
        await pilot.press("p")
    field = screen.query_one("#predict-path", Input)
    field.focus()
    field.value = path
    await pilot.press("enter")
    await wait_until(pilot, lambda: not screen.tasks.busy(PredictionsReady))
    await pilot.pause()
    return screen.query_one(PredictionsPanel)


async def test_a_lays_the_rollout_over_the_selected_mistake_and_a_again_hides_it(home):
    run = home / "runs" / "tiny"
    assert load_evaluation(run)[0].mistakes, "the one-epoch run must make mistakes for this test"
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, run)
        screen = app.screen
        heat = screen.query_one(AttentionHeatMap)
        await pilot.press("a")
        await wait_until(pilot, lambda: heat.grid is not None)
        await pilot.pause()
        assert heat.display and not screen.query_one("#mistake-thumb").display
        expected = rollout_grid(open_run(run), screen.sample)
        assert heat.grid.shape == (4, 4) == expected.shape  # 32 px / 8 px patches
        np.testing.assert_allclose(heat.grid, expected, atol=1e-6)
        assert heat.grid.sum() == pytest.approx(1.0, abs=1e-5)
        legend = str(heat.query_one(".heat-legend").render())
        assert "rollout (class token)" in legend and "mha" in legend
        await pilot.press("a")
        await pilot.pause()
        assert not heat.display and screen.query_one("#mistake-thumb").display


async def test_a_on_a_cnn_run_is_a_notice_and_the_thumbnail_stays(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, home / "runs" / "cnn")
        screen = app.screen
        await pilot.press("a")
        await pilot.pause()
        assert not screen.attention_on and not screen.query_one(AttentionHeatMap).display
        assert screen.query_one("#mistake-thumb").display
        assert any("run cnn is a CNN" in str(n.message) for n in app._notifications)
        await pilot.press("p")  # the screen goes on working
        await pilot.pause()
        assert screen.predictions_shown


async def test_the_path_field_completes_a_partial_path(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, home / "runs" / "tiny")
        await pilot.press("p")
        await pilot.press(*"pho")
        await pilot.pause(0.2)
        await pilot.press("right")
        assert app.screen.query_one("#predict-path", Input).value == "photos/"
        await pilot.press(*"ne")
        await pilot.pause(0.2)
        await pilot.press("right")
        assert app.screen.query_one("#predict-path", Input).value == "photos/nested/"


async def test_one_file_shows_its_top_classes_as_bars_with_predict_paths_numbers(home):
    run = home / "runs" / "tiny"
    image = sorted((home / "photos" / "nested").iterdir())[0]
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, run)
        panel = await predict(pilot, app, str(image))
        expected = predict_paths(run, [image], top_k=5)[0]
        assert [p.top for p in panel.predictions] == [expected.top]
        assert sum(p for _, p in expected.top) <= 1.0 + 1e-6
        bars = str(panel.query_one("#predict-bars").render())
        for name, probability in expected.top:
            assert f"{name}" in bars and f"{probability:6.1%}" in bars
        assert panel.query_one("#predict-one").display and not panel.query_one("#predict-table").display

        panel = await predict(pilot, app, "photos/missing.jpg")
        assert "missing.jpg" in str(panel.query_one("#predict-status").render())
        assert panel.predictions == []


async def test_a_folder_gives_one_row_per_image_and_e_saves_them_as_csv(home):
    run = home / "runs" / "tiny"
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_evaluate(app, pilot, run)
        panel = await predict(pilot, app, "photos")
        images = sorted((home / "photos" / "nested").iterdir())
        table = panel.query_one("#predict-table", DataTable)
        assert table.row_count == len(images) == len(panel.predictions)
        assert table.get_row_at(0)[0] == f"nested/{images[0].name}"
        await pilot.press("e")
        saved = run / "predictions" / "photos.csv"
        await wait_until(pilot, lambda: saved.is_file())
        assert read_predictions_csv(saved) == [
            type(p)(p.path, tuple((name, round(prob, 6)) for name, prob in p.top)) for p in panel.predictions
        ]


async def test_x_exports_the_model_and_the_notification_names_the_file(home):
    run = home / "runs" / "tiny"
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, run)
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportModelQuestion))
        await pilot.press("t")
        model_file = run / "export" / "model-best.torchscript.pt"
        await wait_until(pilot, lambda: any(str(model_file) in n.message for n in app._notifications), timeout=60)
        sidecar = json.loads(model_file.with_name(model_file.name + ".json").read_text())
        assert sidecar["verification"]["max_abs_diff"] <= sidecar["verification"]["allowed_diff"]


async def test_predictions_of_a_run_switched_away_from_mid_work_are_dropped(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, home / "runs" / "tiny")
        screen = app.screen
        await pilot.press("p")
        screen.query_one("#predict-path", Input).value = "photos"
        with screen.models.lock:  # the worker waits for the model while the run changes
            await pilot.press("enter")
            await pilot.pause()
            app.run_dir = home / "runs" / "other"
            await pilot.pause()
        worker = screen.tasks.worker(PredictionsReady)
        await wait_until(pilot, lambda: worker.is_finished)
        await pilot.pause()
        panel = screen.query_one(PredictionsPanel)
        assert panel.predictions == []
        assert not panel.query_one("#predict-table").display
        assert "other" in str(panel.query_one("#predict-status").render())


async def test_keys_help_lists_the_new_keys_and_the_palette_opens_the_model_export(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        await open_evaluate(app, pilot, home / "runs" / "tiny")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = dict(app.screen.rows)
        assert "rollout" in rows["a"] and "image file or folder" in rows["p"] and "ONNX" in rows["x"]
        assert "CSV" in rows["e"]
        await pilot.press("escape")
        entry = next(e for e in MAIN_ACTIONS if e.text == "Export the model (ONNX/TorchScript)")
        await app.run_action(entry.action)
        await wait_until(pilot, lambda: isinstance(app.screen, ExportModelQuestion))
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.name == "evaluate" and not (home / "runs" / "tiny" / "export" / "model-best.onnx").exists()


async def test_the_export_question_keeps_onnx_off_and_says_what_to_install_when_it_is_missing(home):
    missing = "--format onnx: needs onnxruntime, which is not installed; run: pip install 'vit-tui[export]'"
    answers: list[str | None] = []
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(100, 32)) as pilot:
        app.push_screen(ExportModelQuestion("tiny", missing), answers.append)
        await pilot.pause()
        question = app.screen
        assert question.query_one("#onnx").disabled
        assert "pip install 'vit-tui[export]'" in str(question.query_one("#export-onnx-missing").render())
        await pilot.press("o")
        await pilot.pause()
        assert app.screen is question and answers == []
        await pilot.press("t")
        await pilot.pause()
        assert answers == ["torchscript"]
