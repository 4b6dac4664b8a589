"""Event sinks: the file sink behind ``events.jsonl`` and a tee.

Every run writes its events to ``runs/<name>/events.jsonl`` through ``FileSink`` whatever
the caller's sink is; that file is how ``vit-tui attach`` and the app follow a detached run.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

from ...files import write_error
from .events import Event, Sink, to_json


class FileSink:
    """Appends one JSON line per event to a file and flushes it, so followers see it at once."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._handle: TextIO | None = None

    def __call__(self, event: Event) -> None:
        try:
            if self._handle is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            self._handle.write(to_json(event) + "\n")
            self._handle.flush()
        except OSError as exc:
            self._drop()  # what was buffered may be half a line; the next event starts afresh
            raise write_error(self.path, exc) from None

    def _drop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.close()

    def close(self) -> None:
        """Close the file (a later event reopens it in append mode)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class TeeSink:
    """Sends each event to several sinks in order."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def __call__(self, event: Event) -> None:
        for sink in self.sinks:
            sink(event)
