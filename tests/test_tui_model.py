"""Model screen in Pilot: a field per config key, inline validation, presets, summary, TOML."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input
from tui_fixtures import (
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    wait_until,
)

from vit_tui import config as config_mod
from vit_tui.config import all_keys
from vit_tui.model.summary import summarize
from vit_tui.presets import preset
from vit_tui.tui.app import VitApp
from vit_tui.tui.widgets.form import ConfigField


@pytest.fixture
def home(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    return tmp_path


async def _open_model(app, pilot):
    await pilot.press("2")
    await wait_until(pilot, lambda: app.screen.name == "model" and bool(app.screen.summary_text), 60)
    return app.screen


async def _type_into(pilot, screen, key: str, text: str) -> None:
    field = screen.query_one(f"#field-{key.replace('.', '--')}", ConfigField)
    field.control.focus()
    await pilot.pause()
    field.control.value = text
    await pilot.pause(0.2)


async def test_fields_validation_and_start_guard(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_model(app, pilot)
        # A field per model.* and train.* key, labelled exactly with the key.
        keys = [field.key for field in screen.query(ConfigField)]
        assert set(k for k in all_keys() if k.startswith(("model.", "train."))) <= set(keys)
        labels = {str(field.query_one(".field-label").render()) for field in screen.query(ConfigField)}
        assert "model.heads" in labels and "train.eval_batch_size" in labels
        # The error shows under the field it belongs to, and Start waits for a valid form.
        start = screen.query_one("#start-training", Button)
        assert not start.disabled
        await _type_into(pilot, screen, "model.heads", "5")  # embed_dim 96 is not divisible by 5
        embed = screen.query_one("#field-model--embed_dim", ConfigField)
        assert "not divisible by heads 5" in embed.error and embed.has_class("-invalid")
        assert start.disabled and "model.embed_dim" in app.state.form_errors
        await _type_into(pilot, screen, "model.heads", "four")
        heads = screen.query_one("#field-model--heads", ConfigField)
        assert "cannot read 'four' as a whole number" in heads.error
        await _type_into(pilot, screen, "model.heads", "4")
        assert heads.error == "" and embed.error == "" and not start.disabled
        assert app.state.config.model.heads == 4
        # The train screen refuses to start while a field is wrong.
        await _type_into(pilot, screen, "train.lr", "-1")
        assert screen.query_one("#field-train--lr", ConfigField).error
        await pilot.press("escape", "3", "t")
        await pilot.pause()
        assert app.screen.name == "train"
        assert app.screen.status == "idle" and not app.screen.training_in_app


async def test_presets_summary_and_toml(home):
    (home / "bad.toml").write_text("[model]\nheads = 'x'\n")
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_model(app, pilot)
        # The summary shows the model package's own numbers for the chosen dataset's 3 classes.
        expected = summarize(app.state.config.model, 3)
        assert f"{expected.params:,}" in screen.summary_text
        assert f"{expected.seq_len} tokens" in screen.summary_text
        assert f"{expected.flops_per_image / 1e6:,.1f} M" in screen.summary_text
        # A preset fills the form and keeps the dataset.
        await app.run_action("goto('model', \"use_preset('reference')\")")
        await pilot.pause()
        assert app.state.config.model == preset("reference").model
        assert app.state.config.data.dataset == "data/tiny"
        assert screen.query_one("#field-model--attention", ConfigField).value == "dlstudio"
        assert screen.query_one("#field-train--batch_size", ConfigField).value == "16"
        await wait_until(pilot, lambda: f"{summarize(preset('reference').model, 3).params:,}" in screen.summary_text)
        # Save, change the file, load it back.
        await _type_into(pilot, screen, "train.epochs", "7")
        screen.query_one("#config-path", Input).value = "mine.toml"
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = config_mod.load(home / "mine.toml")
        assert saved.train.epochs == 7 and saved.preset == "reference"
        config_mod.save(config_mod.with_value(saved, "model.blocks", 2), home / "mine.toml")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.state.config.model.blocks == 2
        assert screen.query_one("#field-model--blocks", ConfigField).value == "2"
        # A broken file is refused and the form keeps its values.
        before = app.state.config
        screen.query_one("#config-path", Input).value = "bad.toml"
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert app.state.config == before


async def test_choosing_the_cnn_greys_out_the_vit_settings_and_back(home):
    app = VitApp(home)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_model(app, pilot)

        def field(key: str) -> ConfigField:
            return screen.query_one(f"#field-{key.replace('.', '--')}", ConfigField)

        vit_only = ("model.heads", "model.embed_dim", "model.patch_size", "model.attention", "model.stem")
        assert field("model.width").disabled and not any(field(key).disabled for key in vit_only)
        await _type_into(pilot, screen, "model.arch", "resnet18")
        assert app.state.config.model.arch == "resnet18"
        assert all(field(key).disabled for key in vit_only) and not field("model.width").disabled
        assert not field("model.image_size").disabled and not field("train.lr").disabled
        await wait_until(pilot, lambda: "none (a CNN)" in screen.summary_text)
        assert "stage 4" in screen.summary_text and not screen.errors
        await _type_into(pilot, screen, "model.arch", "vit")
        assert field("model.width").disabled and not any(field(key).disabled for key in vit_only)
