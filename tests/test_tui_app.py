"""The app shell in Pilot: start-up, demo offer, screen keys, help, palette, themes, quitting."""

from __future__ import annotations

import json

from textual.command import CommandPalette
from tui_fixtures import (
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    wait_until,
)

from vit_tui.engine.telemetry.events import EpochEnded, PhaseChanged, StepsLogged
from vit_tui.tui.app import VitApp
from vit_tui.tui.bridge import MessageSink
from vit_tui.tui.messages import TrainEvent, TrainProgress
from vit_tui.tui.screens.data import DataScreen
from vit_tui.tui.screens.evaluate import EvaluateScreen
from vit_tui.tui.screens.modals import DemoOffer, HelpScreen
from vit_tui.tui.screens.model import ModelScreen
from vit_tui.tui.screens.runs import RunsScreen
from vit_tui.tui.screens.train import TrainScreen
from vit_tui.tui.settings import settings_path
from vit_tui.tui.themes import load_themes, themes_folder


async def test_offers_demo_and_makes_it_with_one_key(tmp_path):
    app = VitApp(tmp_path, demo_options={"per_class_train": 4, "per_class_val": 2})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DemoOffer), 5)
        await pilot.press("d")
        data = app.screen_named("data")
        await wait_until(pilot, lambda: bool(data.datasets), 60)
        assert [p.name for p in data.datasets] == ["demo"]
        assert (tmp_path / "data" / "demo" / "manifest.json").is_file()
        assert app.state.dataset_path() == tmp_path / "data" / "demo"
        assert len(data.query(".sample-thumb")) == 5


async def test_no_offer_when_a_dataset_exists(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: bool(app.screen_named("data").datasets), 10)
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)
        assert [p.name for p in app.screen.datasets] == ["tiny"]


async def test_keys_one_to_five_switch_screens_and_footer_lists_them(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        expected = {"2": ModelScreen, "3": TrainScreen, "4": EvaluateScreen, "5": RunsScreen, "1": DataScreen}
        for key, screen_type in expected.items():
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen_type), key
        footer_keys = {b.key: b.description for _, b, _, _ in app.screen.active_bindings.values() if b.show}
        assert [footer_keys[k] for k in "12345"] == ["Data", "Model", "Train", "Eval", "Runs"]


async def test_question_mark_and_f1_show_the_current_screens_keys(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = dict(app.screen.rows)
        assert rows["t"] == "Train" and rows["x"] == "Stop" and rows["d"] == "Detach"
        assert rows["1"] == "Data" and rows["?"] == "Keys" and "ctrl+p" in rows
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and isinstance(app.screen.target, TrainScreen)


async def test_palette_lists_actions_and_switches_theme_which_is_remembered(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        assert app.theme == "vit-dark"
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), 5)
        await pilot.press(*"Theme: vit-light")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "vit-light", 5)
    assert json.loads(settings_path().read_text())["theme"] == "vit-light"
    again = VitApp(tmp_path)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "vit-light"


async def test_palette_action_runs_on_its_screen(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), 5)
        await pilot.press(*"Edit train.epochs")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ModelScreen), 5)
        await pilot.pause()
        assert app.focused is app.screen.query_one("#field-train--epochs").control


def test_theme_files_load_dark_light_and_high_contrast():
    themes = {t.name: t for t in load_themes()}
    assert {"vit-dark", "vit-light", "vit-high-contrast"} <= set(themes)
    assert themes["vit-dark"].dark and not themes["vit-light"].dark
    assert themes_folder().name == "themes"


async def test_ctrl_q_quits_when_nothing_trains(tmp_path):
    make_tiny_dataset(tmp_path / "data")
    app = VitApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


def _steps(n: int) -> list[StepsLogged]:
    return [StepsLogged(1, i, n, i, 1.0, 0.5, 1e-3, 100.0, float(i)) for i in range(1, n + 1)]


def test_bridge_thins_log_points_to_the_rate_and_keeps_the_last():
    posted = []
    now = [0.0]
    sink = MessageSink(posted.append, max_rate=10.0, clock=lambda: now[0])
    for event in _steps(100):  # 100 log points in one second
        sink(event)
        now[0] += 0.01
    sink(EpochEnded(1, 1, 1.0, 0.5, 1.1, 0.4, 1e-3, 1.0, 100.0, True, 1, 0.4))
    progress = [m for m in posted if isinstance(m, TrainProgress)]
    assert 9 <= len(progress) <= 12
    assert progress[-1].event.step == 100, "the newest log point is flushed before the epoch's end"
    assert isinstance(posted[-1], TrainEvent) and isinstance(posted[-1].event, EpochEnded)


def test_bridge_passes_every_non_step_event():
    posted = []
    sink = MessageSink(posted.append, max_rate=10.0, clock=lambda: 0.0)
    events = [PhaseChanged("loading data"), PhaseChanged("training", "eager")]
    for event in events:
        sink(event)
    assert [m.event for m in posted] == events
    assert all(isinstance(m, TrainEvent) for m in posted)


def test_progress_messages_replace_each_other_but_data_messages_do_not():
    first, second = (TrainProgress(e) for e in _steps(2))
    assert second.can_replace(first)
    epoch = TrainEvent(EpochEnded(1, 1, 1.0, 0.5, 1.1, 0.4, 1e-3, 1.0, 100.0, True, 1, 0.4))
    assert not epoch.can_replace(TrainEvent(epoch.event))


def test_stylesheet_takes_colours_only_from_theme_variables():
    import re
    from pathlib import Path

    import vit_tui.tui

    css = (Path(vit_tui.tui.__file__).parent / "app.tcss").read_text()
    declarations = re.findall(r"^\s*([a-z-]+)\s*:\s*([^;]+);", css, flags=re.MULTILINE)
    colour_props = [(p, v) for p, v in declarations if p in {"color", "background", "border", "border-left", "outline"}]
    assert colour_props, "the stylesheet sets colours"
    for prop, value in colour_props:
        words = value.split()
        colours = [w for w in words if not re.fullmatch(r"none|round|vkey|solid|tall|wide|\d+%|\d+", w)]
        assert all(w.startswith("$") for w in colours), f"{prop}: {value}"
