"""Data screen (1): the datasets found, their counts and sample thumbnails, and the builders.

Building (demo set, COCO subset, folder import) runs in a thread worker that reports
progress as messages; the functions themselves come from ``vit_tui.data``. The builders are
``data_builders``' (a mixin), their forms ``data_forms``'; the stylesheet is ``data.tcss``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, ItemGrid, Vertical, VerticalScroll
from textual.widgets import Footer, Label, OptionList, ProgressBar, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from ...errors import UserError
from ..tasks import TaskFailed, TaskResult
from ..widgets.thumbnails import Thumbnail
from .base import VitScreen
from .data_builders import DEMO_NAME, DatasetBuilders
from .data_forms import CocoForm, FolderForm


class DatasetsListed(TaskResult[tuple]):
    """(every dataset with its list label, whether the chosen one exists)."""


class DatasetRead(TaskResult[tuple]):
    """(dataset, its manifest, a sample per class, what is wrong with it or "")."""


class DataScreen(DatasetBuilders, VitScreen):
    """Datasets under ``<home>/data`` and the ways to make one."""

    CSS_PATH = "data.tcss"
    TITLE = "Data"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "make_demo", "Demo"),
        Binding("u", "use_dataset", "Use", show=False),
        Binding("b", "show_coco", "COCO"),
        Binding("i", "show_import", "Import"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(name="data")
        self.datasets: list[Path] = []
        self.shown: Path | None = None
        self.task_running = ""
        self._listed = False
        """Whether the data folder has been listed once (the demo set is offered after the first listing)."""

    def compose(self) -> ComposeResult:
        home = self.app.state.home
        with TabbedContent(id="data-tabs"):
            with TabPane("Datasets", id="tab-datasets"):
                with Horizontal(id="datasets-body"):
                    with Vertical(id="datasets-left"):
                        yield OptionList(id="dataset-list")
                        yield Static("", id="dataset-chosen")
                    with VerticalScroll(id="dataset-detail"):
                        yield Static("", id="dataset-counts")
                        yield ItemGrid(id="dataset-samples", min_column_width=13)
                yield ProgressBar(total=1, show_eta=False, id="demo-progress")
            with TabPane("Build from COCO", id="tab-coco"):
                yield CocoForm(home)
            with TabPane("Import folder", id="tab-folder"):
                yield FolderForm(home)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#demo-progress").display = False
        self.action_refresh()
        self.watch(self.app, "config", lambda _cfg: self._show_chosen(), init=False)

    # --- the dataset list ---------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read the data folder again, in a worker (the list is filled when it is read)."""
        self.tasks.start(DatasetsListed, _list_datasets, self.app.state.data_root, self.app.state.dataset_path())

    def _show_listing(self, listing: list[tuple[Path, str]], chosen_exists: bool) -> None:
        first_listing, self._listed = not self._listed, True
        self.datasets = [path for path, _ in listing]
        options = self.query_one("#dataset-list", OptionList)
        options.clear_options()
        for path, label in listing:
            options.add_option(Option(label, id=str(path)))
        if not self.datasets:
            self.query_one("#dataset-counts", Static).update(
                f"No datasets in {self.app.state.data_root}.\n\nm makes the demo set (no download);\n"
                "b builds a COCO subset; i imports an image folder."
            )
            self.query_one("#dataset-samples", ItemGrid).remove_children()
            if first_listing:
                self.app.offer_demo_set()
        chosen = self.app.state.dataset_path()
        if self.datasets and not chosen_exists:
            # The configured dataset is not there: train on one that is (the demo set if present).
            names = [p.name for p in self.datasets]
            fallback = self.datasets[names.index(DEMO_NAME)] if DEMO_NAME in names else self.datasets[0]
            self.app.state.set_dataset(fallback)
            chosen = fallback
        index = next((i for i, p in enumerate(self.datasets) if p == chosen), 0)
        if self.datasets:
            options.highlighted = index
            self.show_dataset(self.datasets[index])
        self._show_chosen()  # the list was rebuilt: the line under it too

    def _show_chosen(self) -> None:
        self.query_one("#dataset-chosen", Static).update(
            f"training on: [b]{self.app.state.config.data.dataset}[/b]\nenter (or u) uses the highlighted one"
        )

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "dataset-list" and event.option.id:
            self.show_dataset(Path(event.option.id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id == "dataset-list" and event.option.id:
            self.choose_dataset(Path(event.option.id))

    def action_use_dataset(self) -> None:
        """Train on the highlighted dataset."""
        if self.shown is not None:
            self.choose_dataset(self.shown)

    def choose_dataset(self, path: Path) -> None:
        """Make ``path`` the dataset runs train on."""
        self.app.state.set_dataset(path)
        self.notify(f"training on {path.name}")

    def show_dataset(self, path: Path) -> None:
        """Counts per class and split, and one sample thumbnail per class (read in a worker)."""
        self.shown = path
        self.tasks.start(DatasetRead, _read_dataset, path)

    def _show_dataset(self, path: Path, manifest, samples: list[tuple[str, Path]], problem: str) -> None:
        if path != self.shown:
            return  # another dataset was highlighted since
        if problem:
            self.query_one("#dataset-counts", Static).update(problem)
            return
        self.query_one("#dataset-counts", Static).update(_counts_table(path.name, manifest))
        grid = self.query_one("#dataset-samples", ItemGrid)
        grid.remove_children()
        grid.mount_all(
            Vertical(Thumbnail(sample, classes="sample-thumb"), Label(name[:12], classes="sample-name"), classes="sample")
            for name, sample in samples
        )

    def on_datasets_listed(self, message: DatasetsListed) -> None:
        self._show_listing(*message.result)

    def on_dataset_read(self, message: DatasetRead) -> None:
        self._show_dataset(*message.result)

    def on_task_failed(self, message: TaskFailed) -> None:
        if message.task in (DatasetsListed, DatasetRead):
            self.query_one("#dataset-counts", Static).update(f"cannot read {self.app.state.data_root}: {message.message}")
            return
        self._build_failed(message)


# --- work done in the worker thread ------------------------------------------------------------


def _list_datasets(data_root: Path, chosen: Path) -> tuple[list[tuple[Path, str]], bool]:
    """Every dataset under ``data_root`` with its list label, and whether the ``chosen`` one exists."""
    from ...data.store import list_datasets

    listing = [(path, _dataset_label(path)) for path in list_datasets(data_root)]
    return listing, (chosen / "manifest.json").is_file()


def _dataset_label(path: Path) -> str:
    from ...data.store import read_manifest

    try:
        manifest = read_manifest(path)
    except UserError:
        return f"{path.name} (unreadable)"
    return f"{path.name}  {len(manifest.classes)} cls · {manifest.total('train')}/{manifest.total('val')}"


def _read_dataset(path: Path) -> tuple[Path, Any, list[tuple[str, Path]], str]:
    """(path, manifest, one sample image per class, problem) of one dataset."""
    from ...data.store import file_prefix, read_manifest

    try:
        manifest = read_manifest(path)
    except UserError as exc:
        return path, None, [], str(exc)
    samples = []
    for name in manifest.classes:
        sample = _first_image(path / "train", file_prefix(name)) or _first_image(path / "val", file_prefix(name))
        if sample is not None:
            samples.append((name, sample))
    return path, manifest, samples, ""


def _first_image(folder: Path, prefix: str) -> Path | None:
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix + "_"))
    except OSError:
        return None
    return folder / names[0] if names else None


def _counts_table(name: str, manifest) -> Table:
    table = Table(
        title=f"{name} · {manifest.image_size}x{manifest.image_size}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    table.add_column("class", no_wrap=True)
    table.add_column("train", justify="right")
    table.add_column("val", justify="right")
    for cls in manifest.classes:
        table.add_row(
            cls, str(manifest.counts.get("train", {}).get(cls, 0)), str(manifest.counts.get("val", {}).get(cls, 0))
        )
    table.add_section()
    table.add_row("total", str(manifest.total("train")), str(manifest.total("val")))
    return table
