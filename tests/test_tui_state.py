"""State flows one way: the app's reactives change in one place and the screens that show them follow at once."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Static
from tui_fixtures import make_fixed_run, make_tiny_dataset, wait_until

from vit_tui.presets import preset
from vit_tui.tui.app import VitApp
from vit_tui.tui.settings import SETTINGS_ENV
from vit_tui.tui.widgets.form import ConfigField


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings"))
    make_tiny_dataset(tmp_path / "data")
    make_tiny_dataset(tmp_path / "data", name="other")
    make_fixed_run(tmp_path / "runs", "ref-dlstudio", attention="dlstudio")
    make_fixed_run(tmp_path / "runs", "ref-einsum", attention="einsum", skill=0.1, started="2024-05-02 09:30:00")
    return tmp_path


def _field(screen, key: str) -> ConfigField:
    return screen.query_one(f"#field-{key.replace('.', '--')}", ConfigField)


async def test_a_config_set_elsewhere_shows_in_the_open_form_and_typing_is_left_alone(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.name == "model", 10)
        model = app.screen
        # Another part of the app changes the config while the form is on screen: no switch, no resume.
        app.config = replace(preset("reference"), data=app.config.data)
        await pilot.pause()
        assert _field(model, "model.embed_dim").control.value == "100"
        assert model.query_one("#preset-select").value == "reference"
        # The form's own edit reaches the app's config, and the text typed stays as typed.
        lr = _field(model, "train.lr").control
        lr.focus()
        lr.value = "1e-3"
        await pilot.pause(0.2)
        assert app.config.train.lr == 0.001 and lr.value == "1e-3"


async def test_the_data_screen_line_follows_the_config(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chosen = app.screen.query_one("#dataset-chosen", Static)
        app.state.set_dataset(home / "data" / "other")
        await pilot.pause()
        assert "data/other" in str(chosen.render())


async def test_the_evaluate_screen_follows_the_chosen_run(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.run_dir = home / "runs" / "ref-dlstudio"
        await pilot.press("4")
        evaluate = app.screen_named("evaluate")
        await wait_until(pilot, lambda: app.screen.name == "evaluate" and evaluate.evaluation is not None, 10)
        first = evaluate.evaluation.accuracy
        app.run_dir = home / "runs" / "ref-einsum"
        await wait_until(pilot, lambda: evaluate.run_dir == home / "runs" / "ref-einsum", 10)
        await wait_until(pilot, lambda: evaluate.evaluation.accuracy != first, 10)
        assert evaluate.query_one("#eval-run").value == str(home / "runs" / "ref-einsum")
