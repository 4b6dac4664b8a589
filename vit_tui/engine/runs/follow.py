"""Following a live run: the events appended to its ``events.jsonl`` since the last look."""

from __future__ import annotations

import os
from pathlib import Path

from ..telemetry.events import Event, from_json


class EventFollower:
    """Reads events appended to an events file since the previous ``poll`` (``RunFolder.follow``)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        """New complete events (a half-written last line waits for the next poll).

        Only bytes appended since the last poll are read. A file shorter than what was read (a
        resume rewrites it without the events it replays, or it was replaced) is read again from
        its start.
        """
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:
                    self._offset, self._partial = 0, b""
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(from_json(line.decode("utf-8")))
                except (ValueError, KeyError, TypeError):
                    continue  # a line from a newer version or cut by a kill
        return events
