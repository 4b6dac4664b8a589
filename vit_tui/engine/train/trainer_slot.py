"""One trainer at a time per process: ``TRAINER_SLOT.hold(label)`` around a run or a study.

A run seeds the process-wide random generators and sets the deterministic and cuDNN flags; a
second run in the same process (the Train screen and an in-app study) would flip them under the
first. So a second start from another thread is refused in one line naming the one that trains.
The thread that holds the slot may take it again (a study runs its runs one after another inside
its own hold). No torch import here: the app asks ``running_trainer()`` before it starts anything.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from ...errors import UserError


class TrainerSlot:
    """The process's one training slot: who holds it (a label) and from which thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._label: str | None = None
        self._thread: int | None = None
        self._depth = 0

    def holder(self) -> str | None:
        """What trains in this process now (``run r3``, ``study reproduce``), or None."""
        with self._lock:
            return self._label

    def rename(self, label: str) -> None:
        """Name the holder better once it is known (a new run's folder name), when this thread holds it."""
        with self._lock:
            if self._thread == threading.get_ident() and self._depth == 1:
                self._label = label

    @contextlib.contextmanager
    def hold(self, label: str) -> Iterator[None]:
        """Hold the slot for the block; a ``UserError`` when another thread holds it."""
        me = threading.get_ident()
        with self._lock:
            if self._label is not None and self._thread != me:
                raise UserError(
                    "train", f"{self._label} is training in this process; one trainer at a time: stop it or wait for it"
                )
            if self._label is None:
                self._label, self._thread = label, me
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._label = self._thread = None


TRAINER_SLOT = TrainerSlot()


def running_trainer() -> str | None:
    """What trains in this process now, or None."""
    return TRAINER_SLOT.holder()
