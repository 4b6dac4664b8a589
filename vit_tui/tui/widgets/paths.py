"""Path completion for Input fields: suggests the rest of a file or folder name as you type."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    """Completes the last part of a path from the file system (relative to ``base``).

    The suggestion shows greyed after the cursor; right arrow (or end) accepts it.
    """

    def __init__(self, base: Path, *, folders_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.base = base
        self.folders_only = folders_only

    async def get_suggestion(self, value: str) -> str | None:
        # A folder on a slow or network disk must not freeze typing: the listing runs in a thread.
        return await asyncio.to_thread(complete_path, value, self.base, folders_only=self.folders_only)


def complete_path(value: str, base: Path, *, folders_only: bool = False) -> str | None:
    """``value`` extended to the first matching entry (folders end with ``/``), or None."""
    if not value:
        return None
    expanded = Path(os.path.expanduser(value))
    full = expanded if expanded.is_absolute() else base / expanded
    if value.endswith(("/", os.sep)):
        folder, stem = full, ""
    else:
        folder, stem = full.parent, full.name
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
    except OSError:
        return None
    for name in names:
        if name.startswith(stem) and name != stem:
            is_dir = (folder / name).is_dir()
            if folders_only and not is_dir:
                continue
            return value + name[len(stem) :] + ("/" if is_dir else "")
    return None
