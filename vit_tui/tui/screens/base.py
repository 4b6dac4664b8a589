"""The base of the main screens: keys 1-5 first in the footer, then ``?``, then the screen's own.

It also holds the app's one way of running blocking work: ``run_task`` runs a function in a
thread worker, its result comes back as a ``TaskDone`` (or ``TaskFailed``) message carrying that
worker, and ``is_current`` tells whether the message is from the newest start of its task, so a
late result of an earlier start never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from ...errors import UserError
from ..messages import TaskDone, TaskFailed

NAV_BINDINGS: list[BindingType] = [
    Binding("1", "app.goto('data')", "Data"),
    Binding("2", "app.goto('model')", "Model"),
    Binding("3", "app.goto('train')", "Train"),
    Binding("4", "app.goto('evaluate')", "Eval"),
    Binding("5", "app.goto('runs')", "Runs"),
    Binding("f1,question_mark", "app.help", "Keys", key_display="?"),
    Binding("escape", "leave_field", "Leave the field (then 1-5 switch screens)", show=False),
]


class VitScreen(Screen):
    """A main screen; subclasses list their own keys in ``BINDINGS`` (shown after these)."""

    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: dict[str, Worker] = {}

    def action_leave_field(self) -> None:
        """Take the focus off a text field, so single-key shortcuts work again."""
        self.set_focus(None)

    def run_task(self, task: str, function: Callable[..., Any], *args: Any, run_dir: Path | None = None) -> Worker:
        """Run ``function(*args)`` in a thread; its result comes back as ``TaskDone`` or ``TaskFailed``."""
        worker = self.run_worker(
            partial(_task_body, self, task, function, args, run_dir), thread=True, group=task, exit_on_error=False
        )
        self._tasks[task] = worker
        return worker

    def is_current(self, message: TaskDone | TaskFailed) -> bool:
        """True when ``message`` comes from the newest start of its task (older results are stale)."""
        return message.worker is not None and self._tasks.get(message.task) is message.worker

    def task_busy(self, task: str) -> bool:
        """True while the newest start of ``task`` has not finished."""
        worker = self._tasks.get(task)
        return worker is not None and worker.is_running


def _task_body(screen: Screen, task: str, function: Callable[..., Any], args: tuple, run_dir: Path | None) -> None:
    worker = get_current_worker()
    try:
        result = function(*args)
    except UserError as exc:
        screen.post_message(TaskFailed(task, str(exc), run_dir, worker=worker))
    except Exception as exc:  # shown in the app, never raised through it
        screen.post_message(TaskFailed(task, f"{type(exc).__name__}: {exc}", run_dir, worker=worker))
    else:
        screen.post_message(TaskDone(task, result, worker=worker))
