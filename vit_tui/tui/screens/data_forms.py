"""The data screen's two builder forms: a COCO subset and an image-folder import.

Each form only collects values; the data screen runs the build in a worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, ProgressBar, SelectionList, Static, Switch
from textual.widgets.selection_list import Selection

from ..widgets.form import FieldRow
from ..widgets.paths import PathSuggester


def _row(label: str, widget) -> Horizontal:
    return FieldRow(Label(label, classes="field-label"), widget)


def _folder_input(home: Path, placeholder: str, field_id: str) -> Input:
    """A path field that completes folder names under ``home``."""
    return Input(placeholder=placeholder, id=field_id, compact=True, suggester=PathSuggester(home, folders_only=True))


@dataclass(frozen=True)
class CocoCategory:
    """One COCO category in the picker."""

    name: str
    cat_id: int
    images: int


class BuilderForm(VerticalScroll):
    """What the builders' forms share: rows of fields, a help line, and the buttons lined up under the fields."""

    DEFAULT_CSS = """
    BuilderForm .form-help {
        color: $text-muted;
        margin: 0 0 1 0;
    }
    BuilderForm .button-row {
        height: auto;
        margin: 0 0 1 22;
    }
    BuilderForm .button-row Button {
        margin: 0 1 0 0;
    }
    """


class CocoForm(BuilderForm):
    """Annotation file, image folder, the class picker with a filter, counts, split, size, seed."""

    def __init__(self, home: Path) -> None:
        super().__init__(id="coco-form")
        self.home = home
        self.categories: list[CocoCategory] = []
        self.chosen: set[str] = set()

    def compose(self) -> ComposeResult:
        suggest = PathSuggester(self.home)
        yield _row(
            "annotation file",
            Input(placeholder="…/annotations/instances_train2017.json", id="coco-ann", compact=True, suggester=suggest),
        )
        yield _row(
            "image folder",
            _folder_input(self.home, "…/train2017", "coco-images"),
        )
        yield Horizontal(
            Button("Read classes", id="coco-read", compact=True), Static("", id="coco-read-note"), classes="button-row"
        )
        yield _row("filter", Input(placeholder="type to filter the classes", id="coco-filter", compact=True))
        yield SelectionList[str](id="coco-classes")
        yield Static("chosen: none", id="coco-chosen")
        yield _row("per class", Input("2000", id="coco-per-class", compact=True, type="integer"))
        yield _row("train per class", Input("1500", id="coco-train-per-class", compact=True, type="integer"))
        yield _row("size", Input("64", id="coco-size", compact=True, type="integer"))
        yield _row("seed", Input("5", id="coco-seed", compact=True, type="integer"))
        yield _row("exclusive", Switch(False, id="coco-exclusive", animate=False))
        yield _row("name", Input("coco5", id="coco-out", compact=True))
        yield Horizontal(Button("Build ▶", id="coco-build", variant="primary", compact=True), classes="button-row")
        yield ProgressBar(total=1, show_eta=True, id="coco-progress")
        yield Static("", id="coco-note")

    def set_categories(self, categories: list[CocoCategory]) -> None:
        """Fill the picker (every category with its image count)."""
        self.categories = categories
        self.chosen &= {c.name for c in categories}
        self._refill()

    def _refill(self) -> None:
        text = self.query_one("#coco-filter", Input).value.strip().lower()
        picker = self.query_one("#coco-classes", SelectionList)
        picker.clear_options()
        picker.add_options(
            Selection(f"{c.name} ({c.images:,} images)", c.name, c.name in self.chosen)
            for c in self.categories
            if text in c.name.lower()
        )
        self._show_chosen()

    def _show_chosen(self) -> None:
        names = [c.name for c in self.categories if c.name in self.chosen]
        self.query_one("#coco-chosen", Static).update(f"chosen ({len(names)}): {', '.join(names) or 'none'}")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "coco-filter":
            self._refill()

    def on_selection_list_selection_toggled(self, event: SelectionList.SelectionToggled) -> None:
        name = str(event.selection.value)
        if name in self.chosen:
            self.chosen.discard(name)
        else:
            self.chosen.add(name)
        self._show_chosen()

    def values(self) -> dict:
        """The form as build arguments (strings parsed; bad numbers raise ValueError naming the field)."""

        def number(widget_id: str, label: str) -> int:
            raw = self.query_one(f"#{widget_id}", Input).value.strip()
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"{label}: {raw!r} is not a whole number") from None

        return {
            "ann_file": self.query_one("#coco-ann", Input).value.strip(),
            "images_dir": self.query_one("#coco-images", Input).value.strip(),
            "classes": [c.name for c in self.categories if c.name in self.chosen],
            "per_class": number("coco-per-class", "per class"),
            "train_per_class": number("coco-train-per-class", "train per class"),
            "size": number("coco-size", "size"),
            "seed": number("coco-seed", "seed"),
            "exclusive": self.query_one("#coco-exclusive", Switch).value,
            "name": self.query_one("#coco-out", Input).value.strip(),
        }


class FolderForm(BuilderForm):
    """An image folder (class subfolders or ``<class>_*.jpg``) to import as a dataset."""

    def __init__(self, home: Path) -> None:
        super().__init__(id="folder-form")
        self.home = home

    def compose(self) -> ComposeResult:
        yield Static(
            "Class subfolders (with train/ and val/ or test/, or one folder split by the ratio), "
            "or the flat train_data/ val_data/ <class>_*.jpg layout.",
            classes="form-help",
        )
        yield _row(
            "folder",
            _folder_input(self.home, "path/to/images", "folder-dir"),
        )
        yield _row("name", Input("", placeholder="dataset name under data/", id="folder-out", compact=True))
        yield _row("size", Input("64", id="folder-size", compact=True, type="integer"))
        yield _row("val ratio", Input("0.2", id="folder-ratio", compact=True, type="number"))
        yield _row("seed", Input("5", id="folder-seed", compact=True, type="integer"))
        yield Horizontal(Button("Import ▶", id="folder-import", variant="primary", compact=True), classes="button-row")
        yield ProgressBar(total=1, show_eta=True, id="folder-progress")
        yield Static("", id="folder-note")

    def values(self) -> dict:
        """The form as import arguments."""

        def read(widget_id: str, kind: type, label: str):
            raw = self.query_one(f"#{widget_id}", Input).value.strip()
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{label}: {raw!r} is not a number") from None

        folder = self.query_one("#folder-dir", Input).value.strip()
        name = self.query_one("#folder-out", Input).value.strip() or Path(folder.rstrip("/")).name
        return {
            "src": folder,
            "name": name,
            "size": read("folder-size", int, "size"),
            "val_fraction": read("folder-ratio", float, "val ratio"),
            "seed": read("folder-seed", int, "seed"),
        }
