"""Layout checked by measure, not by eye: confusion cells line up and are never cut, help text is never squeezed.

The snapshots show each screen at five sizes; these tests state the rules the snapshots must keep,
so a layout that breaks one fails here even when someone accepts a new snapshot.
"""

from __future__ import annotations

import re

import pytest
from textual.widgets import Static
from tui_fixtures import make_tiny_dataset, wait_until

from vit_tui.config import field_doc
from vit_tui.tui.app import VitApp
from vit_tui.tui.settings import SETTINGS_ENV
from vit_tui.tui.widgets.confusion import CORNER, confusion_lines
from vit_tui.tui.widgets.form import ConfigField
from vit_tui.tui.widgets.palette import Palette

SIZES = [(80, 24), (100, 32), (120, 40), (160, 50), (220, 60)]
COCO_CLASSES = ["airplane", "bus", "cat", "dog", "pizza", "traffic light", "motorcycle", "fire hydrant"]
PALETTE = Palette(*["#101010", "#f0f0f0", "#808080", "#3070f0", "#f0a030", "#30c0c0", "#30c030", "#c03030", "#c0c030"])


def _matrix(n: int) -> list[list[int]]:
    """Counts of one to four digits, so a cut or a shifted cell shows."""
    return [[1490 if i == j else (7 * i + 3 * j) % 23 * (i + 1) for j in range(n)] for i in range(n)]


def _cell_ends(line: str) -> list[int]:
    return [m.end() for m in re.finditer(r"%", line)]


@pytest.mark.parametrize("available", [24, 40, 60, 80, 100, 140])
def test_confusion_cells_line_up_and_numbers_are_whole(available):
    matrix = _matrix(len(COCO_CLASSES))
    lines, notes, layout = confusion_lines(COCO_CLASSES, matrix, PALETTE, available)
    header, rule, *rows = [line.plain for line in lines]
    note_text = "\n".join(note.plain for note in notes)
    assert header.startswith(CORNER) and set(rule) == {"─"}
    # Every row is as wide as the table and ends its cells in the same columns.
    assert {len(row) for row in rows} == {layout.width} and len(header) == len(rule) == layout.width
    assert len({tuple(_cell_ends(row)) for row in rows}) == 1 and len(_cell_ends(rows[0])) == len(COCO_CLASSES)
    assert "…" not in "".join([header, *rows])
    # Numbers are whole: every count (or share) of the matrix is in its row.
    for row, counts in zip(rows, matrix):
        total = sum(counts)
        shown = [f"{c / total:.0%}" for c in counts] if layout.compact else [f"{c} {c / total:4.0%}" for c in counts]
        assert all(text in row for text in shown), row
    # A table that does not fit says it scrolls; one that fits keeps inside the width.
    assert layout.scrolls == (layout.width > available) and ("scroll sideways" in note_text) == layout.scrolls
    # A shortened name is spelled out in the legend; column headers fit their cells.
    for short, full in zip(layout.shown, COCO_CLASSES):
        assert short == full or f"{short} = {full}" in note_text
        assert len(short) <= layout.cell_width


def test_confusion_names_cut_to_the_same_prefix_stay_distinct():
    classes = ["traffic light", "traffic cone", "train"]
    _lines, notes, layout = confusion_lines(classes, _matrix(3), PALETTE, 30)
    assert len(set(layout.shown)) == 3, layout.shown


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings"))
    make_tiny_dataset(tmp_path / "data")
    return tmp_path


async def test_model_help_is_readable_or_moved_to_the_help_line_at_every_size(home):
    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=SIZES[0]) as pilot:
        await pilot.press("2")
        await wait_until(pilot, lambda: app.screen.name == "model", 10)
        screen = app.screen
        lr = screen.query_one("#field-train--lr", ConfigField)
        lr.control.focus()
        for size in SIZES:
            await pilot.resize_terminal(*size)
            await pilot.pause()
            docs = [label for label in screen.query(".field-doc") if label.display]
            help_line = screen.query_one("#field-help", Static)
            if docs:
                # Beside the field: each column at least as wide as the longest word it holds.
                for label in docs:
                    longest = max(len(word) for word in str(label.render()).split())
                    assert label.content_region.width >= longest, (size, label.parent.parent.key)
                assert not help_line.display, size
            else:
                # Moved: one line under the form for the focused field, wide enough for its words.
                assert help_line.display, size
                assert str(help_line.render()) == f"train.lr: {field_doc('train.lr')}"
                assert help_line.content_region.width >= max(len(w) for w in field_doc("train.lr").split())
        assert any(label.display for label in screen.query(".field-doc")), "the widest size shows help inline"
