"""Fault suite for files: all-or-nothing writes, full disks, unwritable output, damaged run files.

Each case names what goes wrong and checks what the user sees (one line, exit code 2) and what
is left on disk (the old file or the new one, never a temp file, never a half-written one).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from pathlib import Path

import pytest

from vit_tui import files
from vit_tui.files import WriteError, write_bytes, write_text, write_with

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name)


# --- one file-writing module -----------------------------------------------------------------


class Boom(Exception):
    """Raised by a writer callback half-way through."""


def _raise_midway(handle) -> None:
    handle.write(b"half of the new ")
    raise Boom


def _enospc_midway(handle) -> None:
    handle.write(b"half of the new ")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("case", "callback", "error"),
    [
        ("callback raises", _raise_midway, Boom),
        ("disk full midway", _enospc_midway, WriteError),
        ("interrupted", lambda handle: (handle.write(b"x"), (_ for _ in ()).throw(KeyboardInterrupt)), KeyboardInterrupt),
    ],
)
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, case, callback, error):
    target = tmp_path / "summary.json"
    target.write_text("old content")
    with pytest.raises(error):
        write_with(target, callback)
    assert target.read_text() == "old content", case
    assert temp_files(tmp_path) == [], case


def test_disk_full_is_one_line_naming_the_file_and_the_space_needed(tmp_path):
    target = tmp_path / "metrics.csv"

    def full(handle) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError) as caught:
        write_with(target, full, size=5_000_000)
    message = str(caught.value)
    assert message.startswith(str(target)) and "disk is full" in message and "4.8 MB needed" in message
    assert "\n" not in message and caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert not target.exists() and temp_files(tmp_path) == []


def test_new_files_get_the_umask_mode_and_the_umask_is_never_touched(tmp_path, monkeypatch):
    def no_umask(_mask):
        raise AssertionError("a write changed the process umask")

    monkeypatch.setattr(os, "umask", no_umask)
    for name, write in (("a.txt", lambda p: write_text(p, "x")), ("b.bin", lambda p: write_bytes(p, b"x"))):
        write(tmp_path / name)
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~files.UMASK


def test_two_writers_of_one_file_never_share_a_temp_file(tmp_path):
    # Both callbacks are inside their temp files at once: a fixed temp name would mix the two.
    target = tmp_path / "confusion_matrix.png"
    both_in = threading.Barrier(2, timeout=10)

    def writer(payload: bytes):
        def callback(handle) -> None:
            handle.write(payload[:100])
            both_in.wait()
            handle.write(payload[100:])

        return callback

    payloads = [bytes([i]) * 5000 for i in (1, 2)]
    threads = [threading.Thread(target=write_with, args=(target, writer(p))) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in payloads
    assert temp_files(tmp_path) == []


def test_every_writer_goes_through_the_files_module():
    # Writing whole files anywhere else would bring back the temp-name and permission mix-ups.
    allowed = {"vit_tui/files.py", "vit_tui/data/store.py"}  # store renames whole dataset folders
    pattern_hits = []
    for path in sorted((ROOT / "vit_tui").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        for needle in (r"mkstemp\(", r"os\.replace\(", r"(?<!files)\.write_(text|bytes)\(", r"os\.umask\("):
            if re.search(needle, text) and rel not in allowed:
                pattern_hits.append((rel, needle))
    assert pattern_hits == []
