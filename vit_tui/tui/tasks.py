"""The app's one way of running blocking work: a thread worker whose outcome is a typed message.

Each task has its own result message, a subclass of ``TaskResult`` named for what it carries
(``ModelSummaryReady``, ``EvaluationReady``, ...), and is started through the owner's ``Tasks``::

    class ModelSummaryReady(TaskResult[str]):
        '''The model summary text.'''

    self.tasks.start(ModelSummaryReady, format_summary, cfg.model, classes)

    def on_model_summary_ready(self, message: ModelSummaryReady) -> None:
        show(message.result)

The function runs in a thread; what it returns comes back as that message, and what it raises
as one ``TaskFailed`` naming the task's result class. The result class is also the task's key:
starting a task again supersedes the earlier start, and a message of a superseded start is
dropped when it is delivered (``no_dispatch``), so a late result never overwrites a newer one
and no handler has to check.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from textual.dom import DOMNode
from textual.message import Message
from textual.worker import Worker

from ..errors import UserError

T = TypeVar("T")

_generations = itertools.count(1)


@dataclass(eq=False)
class Ticket:
    """One start of a task: its key, its generation (a counter over all starts) and its worker."""

    tasks: Tasks
    key: type[TaskResult]
    generation: int = field(default_factory=lambda: next(_generations))
    worker: Worker | None = None

    @property
    def current(self) -> bool:
        """True while no newer start of the same task has been made."""
        return self.tasks.newest(self.key) is self


class _TaskMessage(Message, bubble=False, no_dispatch=None):
    """What every task message shares: the start it came from, and dropping it once that start is superseded."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Message's own hook would otherwise reset ``no_dispatch`` (the property) and ``bubble`` per subclass.
        kwargs.setdefault("no_dispatch", None)
        kwargs.setdefault("bubble", None)
        super().__init_subclass__(**kwargs)

    def __init__(self, ticket: Ticket) -> None:
        super().__init__()
        self.ticket = ticket

    @property
    def no_dispatch(self) -> bool:  # type: ignore[override]  # checked by Textual when the message is delivered
        return not self.ticket.current

    @property
    def worker(self) -> Worker | None:
        """The worker that sent this message."""
        return self.ticket.worker


class TaskResult(_TaskMessage, Generic[T]):
    """A task's result; subclass it once per task (the subclass's name gives its ``on_...`` handler)."""

    title: ClassVar[str] = "The task"
    """What the task is called in a failure dialog ("Evaluate", "Compare"): ``class X(TaskResult[T], title=...)``."""

    def __init_subclass__(cls, title: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if title is not None:
            cls.title = title

    def __init__(self, result: T, ticket: Ticket) -> None:
        super().__init__(ticket)
        self.result = result


class TaskFailed(_TaskMessage):
    """A task raised: ``task`` is its result class, ``message`` what went wrong."""

    def __init__(self, task: type[TaskResult], message: str, run_dir: Path | None, ticket: Ticket) -> None:
        super().__init__(ticket)
        self.task = task
        self.message = message
        self.run_dir = run_dir


class TaskProgress(_TaskMessage):
    """Progress of a task: ``done`` of ``total`` items; only the newest queued one of a task matters."""

    def __init__(self, ticket: Ticket, done: int, total: int, note: str = "") -> None:
        super().__init__(ticket)
        self.done, self.total, self.note = done, total, note

    @property
    def task(self) -> type[TaskResult]:
        """The result class of the task this progress belongs to."""
        return self.ticket.key

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskProgress) and message.ticket is self.ticket


class Tasks:
    """The tasks of one screen (or the app): starts them and remembers the newest start of each."""

    def __init__(self, owner: DOMNode) -> None:
        self._owner = owner
        self._newest: dict[type[TaskResult], Ticket] = {}

    def start(
        self,
        result: type[TaskResult[T]],
        function: Callable[..., T],
        *args: Any,
        run_dir: Path | None = None,
        progress: bool = False,
    ) -> Worker:
        """Run ``function(*args)`` in a thread; it comes back as ``result`` or ``TaskFailed`` (about ``run_dir``).

        With ``progress``, ``function`` also gets a ``progress(done, total, note)`` keyword that posts
        ``TaskProgress`` messages of this start.
        """
        ticket = Ticket(self, result)
        self._newest[result] = ticket
        if progress:
            function = partial(function, progress=partial(self._post_progress, ticket))
        body = partial(self._run, ticket, function, args, run_dir)
        ticket.worker = self._owner.run_worker(body, thread=True, group=result.__name__, exit_on_error=False)
        return ticket.worker

    def newest(self, result: type[TaskResult]) -> Ticket | None:
        """The newest start of a task (None before its first)."""
        return self._newest.get(result)

    def worker(self, result: type[TaskResult]) -> Worker | None:
        """The worker of the newest start of a task."""
        ticket = self._newest.get(result)
        return ticket.worker if ticket is not None else None

    def busy(self, result: type[TaskResult]) -> bool:
        """True while the newest start of a task has not finished."""
        worker = self.worker(result)
        return worker is not None and worker.is_running

    def _run(self, ticket: Ticket, function: Callable[..., Any], args: tuple, run_dir: Path | None) -> _TaskMessage:
        try:
            message: _TaskMessage = ticket.key(function(*args), ticket)
        except UserError as exc:
            message = TaskFailed(ticket.key, str(exc), run_dir, ticket)
        except Exception as exc:  # shown in the app, never raised through it
            message = TaskFailed(ticket.key, f"{type(exc).__name__}: {exc}", run_dir, ticket)
        self._owner.post_message(message)
        return message

    def _post_progress(self, ticket: Ticket, done: int, total: int | None = None, note: str = "", *_: Any, **__: Any):
        self._owner.post_message(TaskProgress(ticket, int(done), int(total or 0), str(note)))
