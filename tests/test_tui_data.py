"""Data screen in Pilot: the dataset list and counts, the COCO builder, the folder import."""

from __future__ import annotations

import pytest
from data_fixtures import make_tiny_coco
from PIL import Image
from textual.widgets import Input, OptionList, SelectionList, Switch
from tui_fixtures import (
    CLASSES,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    wait_until,
)

from vit_tui.data.store import read_manifest
from vit_tui.tui.app import VitApp
from vit_tui.tui.screens.data_forms import CocoForm
from vit_tui.tui.screens.modals import FailureScreen
from vit_tui.tui.widgets.paths import complete_path


async def test_lists_datasets_with_counts_and_a_thumbnail_per_class(tmp_path):
    make_tiny_dataset(tmp_path / "data", "tiny")
    make_tiny_dataset(tmp_path / "data", "small", train_per_class=2, val_per_class=1)
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        data = app.screen
        await wait_until(pilot, lambda: len(data.query(".sample-thumb")) == len(CLASSES), 10)
        assert [p.name for p in data.datasets] == ["small", "tiny"]
        assert data.query_one("#dataset-list", OptionList).option_count == 2
        assert app.state.config.data.dataset == "data/small", "a missing configured dataset falls back to one present"
        assert len(data.query(".sample-thumb")) == len(CLASSES)
        data.query_one("#dataset-list", OptionList).focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: app.state.config.data.dataset == "data/tiny", 10)
        assert data.shown == tmp_path / "data" / "tiny"


@pytest.mark.slow
async def test_coco_builder_reads_classes_filters_and_builds(tmp_path):
    tiny = make_tiny_coco(tmp_path / "coco")
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        form = app.screen.query_one(CocoForm)
        form.query_one("#coco-ann", Input).value = str(tiny.ann_file.relative_to(tmp_path))
        form.query_one("#coco-images", Input).value = str(tiny.images_dir)
        await pilot.click("#coco-read")
        await wait_until(pilot, lambda: bool(form.categories), 30)
        counts = {c.name: c.images for c in form.categories}
        assert counts["airplane"] == 5 and counts["cat"] == 4 + 2 and counts["person"] == 0
        picker = form.query_one("#coco-classes", SelectionList)
        assert picker.option_count == len(counts)
        form.query_one("#coco-filter", Input).value = "a"
        await pilot.pause()
        assert picker.option_count == len([n for n in counts if "a" in n])
        form.query_one("#coco-filter", Input).value = ""
        await pilot.pause()
        picker.focus()
        for name in ("airplane", "bus"):
            picker.highlighted = [picker.get_option_at_index(i).value for i in range(picker.option_count)].index(name)
            await pilot.press("space")
        await pilot.pause()
        assert form.chosen == {"airplane", "bus"}
        assert "chosen (2): airplane, bus" in str(form.query_one("#coco-chosen").render())
        for widget_id, value in (
            ("coco-per-class", "4"),
            ("coco-train-per-class", "3"),
            ("coco-size", "16"),
            ("coco-out", "two"),
        ):
            form.query_one(f"#{widget_id}", Input).value = value
        form.query_one("#coco-exclusive", Switch).value = True
        await pilot.click("#coco-build")
        data = app.screen
        await wait_until(pilot, lambda: any(p.name == "two" for p in data.datasets), 60)
        manifest = read_manifest(tmp_path / "data" / "two")
        assert manifest.classes == ["airplane", "bus"]
        assert manifest.counts == {"train": {"airplane": 3, "bus": 3}, "val": {"airplane": 1, "bus": 1}}
        assert manifest.image_size == 16
        assert app.state.config.data.dataset == "data/two"


async def test_coco_reading_a_missing_file_fails_in_a_modal(tmp_path):
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        app.screen.query_one("#coco-ann", Input).value = "nowhere.json"
        await pilot.click("#coco-read")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen), 30)
        assert "nowhere.json" in app.screen.message


async def test_folder_import(tmp_path):
    source = tmp_path / "pictures"
    for cls, colour in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        (source / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 12), colour).save(source / cls / f"{i}.png")
    app = VitApp(tmp_path, offer_demo=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        screen.query_one("#folder-dir", Input).value = "pictures"
        screen.query_one("#folder-size", Input).value = "16"
        screen.query_one("#folder-ratio", Input).value = "0.4"
        await pilot.click("#folder-import")
        await wait_until(pilot, lambda: any(p.name == "pictures" for p in screen.datasets), 60)
        manifest = read_manifest(tmp_path / "data" / "pictures")
        assert sorted(manifest.classes) == ["blue", "red"]
        assert manifest.total("train") + manifest.total("val") == 10 and manifest.total("val") == 4


def test_path_completion_completes_names_and_marks_folders(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text("{}")
    assert complete_path("ann", tmp_path) == "annotations/"
    assert complete_path("annotations/inst", tmp_path) == "annotations/instances_train2017.json"
    assert complete_path("annotations/inst", tmp_path, folders_only=True) is None
    assert complete_path("zzz", tmp_path) is None
