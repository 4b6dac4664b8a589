"""The data screen's builders: the demo set, a COCO subset and a folder import, each in a worker.

A mixin of ``DataScreen``: one build runs at a time; its progress comes back as ``TaskProgress``
messages to its bar, and the dataset it made is chosen and listed when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.widgets import Button, Input, ProgressBar, Static, TabbedContent

from ..tasks import TaskFailed, TaskProgress, TaskResult
from .data_forms import CocoCategory, CocoForm, FolderForm

DEMO_NAME = "demo"


class DemoMade(TaskResult[Path], title="demo"):
    """The demo set's folder."""


class CocoClassesRead(TaskResult[list], title="coco-classes"):
    """(name, id, count) of each category in a COCO annotations file."""


class CocoBuilt(TaskResult[Path], title="coco-build"):
    """The COCO subset's folder."""


class FolderImported(TaskResult[Path], title="folder-import"):
    """The imported dataset's folder."""


BUILDS: dict[type[TaskResult], tuple[str, str | None]] = {
    DemoMade: ("#demo-progress", None),
    CocoBuilt: ("#coco-progress", "#coco-note"),
    FolderImported: ("#folder-progress", "#folder-note"),
}
"""The tasks that make a dataset: (their progress bar, the line that tells where it was built)."""


class DatasetBuilders:
    """Making a dataset from the data screen (a mixin of ``DataScreen``)."""

    task_running: str
    """The title of the build under way ("" when none is)."""

    def action_show_coco(self) -> None:
        """Open the COCO builder tab."""
        self.query_one(TabbedContent).active = "tab-coco"

    def action_show_import(self) -> None:
        """Open the folder import tab."""
        self.query_one(TabbedContent).active = "tab-folder"

    def action_make_demo(self) -> None:
        """Draw the built-in demo set into ``<home>/data/demo``."""
        target = self.app.state.data_root / DEMO_NAME
        if self._claim(DemoMade):
            bar = self.query_one("#demo-progress", ProgressBar)
            bar.display = True
            bar.update(total=None, progress=0)
            self.query_one("#dataset-counts", Static).update("drawing the demo set…")
            self.tasks.start(DemoMade, _make_demo, target, self.app.demo_options, progress=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == "coco-read":
            ann = self.query_one("#coco-ann", Input).value.strip()
            if self._claim(CocoClassesRead):
                self.query_one("#coco-read-note", Static).update("reading…")
                self.tasks.start(CocoClassesRead, _read_coco_classes, self._resolve(ann), progress=True)
        elif button == "coco-build":
            self._start_coco_build()
        elif button == "folder-import":
            self._start_import()

    def _start_coco_build(self) -> None:
        values = self._form_values(CocoForm, "name", "name: give the dataset a name")
        if values is not None:
            values["ann_file"] = self._resolve(values["ann_file"])
            values["images_dir"] = self._resolve(values["images_dir"])
            self._start_build(CocoBuilt, _build_coco, values, "building…")

    def _start_import(self) -> None:
        values = self._form_values(FolderForm, "src", "folder: give the image folder to import")
        if values is not None:
            values["src"] = self._resolve(values["src"])
            self._start_build(FolderImported, _import_folder, values, "importing…")

    def _form_values(self, form: type[CocoForm | FolderForm], required: str, missing: str) -> dict | None:
        """A builder form's values with the dataset's folder in ``out_dir`` (None, said why, when one is wrong)."""
        try:
            values = self.query_one(form).values()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return None
        if not values[required] or not values["name"]:
            self.notify(missing, severity="error")
            return None
        values["out_dir"] = self.app.state.data_root / values.pop("name")
        return values

    def _start_build(self, task: type[TaskResult[Path]], build: Callable[..., Path], values: dict, doing: str) -> None:
        if self._claim(task):
            bar_id, note_id = BUILDS[task]
            self.query_one(bar_id, ProgressBar).update(total=None, progress=0)
            self.query_one(note_id, Static).update(doing)
            self.tasks.start(task, build, values, progress=True)

    def _resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.app.state.home / path

    def _claim(self, task: type[TaskResult]) -> bool:
        if self.task_running:
            self.notify(f"Wait for {self.task_running} to finish.", severity="warning")
            return False
        self.task_running = task.title
        return True

    def _park_bar(self, bar_id: str) -> None:
        """Hide a bar and stop its indeterminate animation (it would keep redrawing while hidden)."""
        bar = self.query_one(bar_id, ProgressBar)
        bar.update(total=1, progress=0)
        bar.display = False

    def on_task_progress(self, message: TaskProgress) -> None:
        if message.task in BUILDS:
            bar_id = BUILDS[message.task][0]
            self.query_one(bar_id, ProgressBar).update(total=message.total or None, progress=message.done)

    def on_coco_classes_read(self, message: CocoClassesRead) -> None:
        self.task_running = ""
        categories = [CocoCategory(name, int(cat_id), int(count)) for name, cat_id, count in message.result]
        self.query_one(CocoForm).set_categories(categories)
        self.query_one("#coco-read-note", Static).update(f"{len(categories)} categories")

    # Named handlers, not ``@on``: Textual collects decorated handlers only from classes it builds, not from a mixin.
    def on_demo_made(self, message: DemoMade) -> None:
        self._dataset_built(message)

    def on_coco_built(self, message: CocoBuilt) -> None:
        self._dataset_built(message)

    def on_folder_imported(self, message: FolderImported) -> None:
        self._dataset_built(message)

    def _dataset_built(self, message: DemoMade | CocoBuilt | FolderImported) -> None:
        self.task_running = ""
        path = Path(message.result)
        bar_id, note_id = BUILDS[type(message)]
        if note_id is None:
            self._park_bar(bar_id)
        else:
            self.query_one(note_id, Static).update(f"built {path}")
        self.choose_dataset(path)
        self.query_one(TabbedContent).active = "tab-datasets"
        self.action_refresh()


    def _build_failed(self, message: TaskFailed) -> None:
        self.task_running = ""
        if message.task is DemoMade:
            self._park_bar("#demo-progress")
        elif message.task in BUILDS:
            self.query_one(BUILDS[message.task][0], ProgressBar).update(total=1, progress=0)
        if message.task is CocoClassesRead:
            self.query_one("#coco-read-note", Static).update("")
        self.app.show_failure(f"{message.task.title} failed", message.message)


def _make_demo(target: Path, options: dict, progress: Callable) -> Path:
    """Draw the demo set into ``target``, unless it is already there (then it is only chosen)."""
    from ...data.demo import make_demo
    from ...data.store import MANIFEST_NAME

    if (target / MANIFEST_NAME).is_file():
        return target
    return make_demo(target, **options)


def _read_coco_classes(ann_file: Path, progress: Callable) -> list[tuple[str, int, int]]:
    from ...data.coco import coco_classes

    return coco_classes(ann_file)


def _build_coco(values: dict, progress: Callable) -> Path:
    from ...data.coco import build_coco

    return build_coco(progress=progress, **values)


def _import_folder(values: dict, progress: Callable) -> Path:
    from ...data.folder import import_folder

    return import_folder(progress=progress, **values)
