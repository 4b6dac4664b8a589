"""The one error type for bad user input: it names what is wrong and what to do.

The CLI prints ``subject: why`` on one line and exits with code 2, without a traceback. A value
the user typed may be any length (a 1 MB setting in a config file, a path of thousands of
characters), so every long unbroken run of characters in a message is cut to its two ends, and
the whole message is capped: no message can be longer than a few lines of a terminal.

A path the file system cannot take (a name over ``NAME_MAX`` bytes, or a whole path over
``PATH_MAX``) is refused through ``check_path_length`` where user paths enter, and ``name_too_long``
turns a stray ``ENAMETOOLONG`` from deeper down into the same one-line error.
"""

from __future__ import annotations

import errno
import os
import re

LONG_RUN = 200
"""Longer runs of non-space characters are cut (a path of 200 characters is still shown whole)."""
CUT_HEAD, CUT_TAIL = 60, 20
MAX_MESSAGE = 2000
NAME_MAX = 255
"""The most bytes in one path component on Linux's and macOS's file systems."""
PATH_MAX = 4096
"""The most bytes in a whole path the Linux kernel takes in one call."""

_LONG_RUN = re.compile(rf"\S{{{LONG_RUN + 1},}}")


def cut(text: str, head: int = CUT_HEAD, tail: int = CUT_TAIL) -> str:
    """``text`` when short; otherwise its first ``head`` and last ``tail`` characters around an ellipsis."""
    if len(text) <= head + tail + 1:
        return text
    return f"{text[:head]}…{text[-tail:]}"


def cut_long_values(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` with every run of more than ``LONG_RUN`` non-space characters cut, and at most ``limit`` long."""
    text = _LONG_RUN.sub(lambda match: cut(match.group()), text)
    if len(text) > limit:
        text = cut(text, limit * 3 // 4, limit // 4 - 1)
    return text


class UserError(Exception):
    """Bad input from the user: ``subject`` is the field, file or option; ``why`` the fix."""

    exit_code = 2

    def __init__(self, subject: str, why: str) -> None:
        subject = cut_long_values(str(subject), MAX_MESSAGE // 4)
        why = cut_long_values(str(why), MAX_MESSAGE - len(subject) - 2)
        super().__init__(f"{subject}: {why}")
        self.subject = subject
        self.why = why


def path_length_problem(path: str | os.PathLike) -> str:
    """What makes ``path`` too long for the file system ("" when nothing does)."""
    raw = os.fsencode(path)
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > NAME_MAX:
        name = cut(os.fsdecode(longest))
        return f"the name {name!r} is {len(longest):,} bytes long (names may have {NAME_MAX} at most)"
    if len(raw) >= PATH_MAX:
        whole = cut(os.fsdecode(raw))
        return f"the path {whole!r} is {len(raw):,} bytes long (paths may have {PATH_MAX - 1:,} at most)"
    return ""


def check_path_length(path: str | os.PathLike, subject: str) -> None:
    """A ``UserError`` for ``subject`` when ``path`` is longer than the file system takes."""
    problem = path_length_problem(path)
    if problem:
        raise UserError(subject, f"{problem}; use a shorter path")


def name_too_long(exc: OSError) -> UserError | None:
    """The one-line error for an ``ENAMETOOLONG`` met anywhere; None for any other ``OSError``."""
    if exc.errno != errno.ENAMETOOLONG:
        return None
    path = os.fsdecode(exc.filename) if exc.filename is not None else ""
    problem = path_length_problem(path) or "a name in this path is too long for its file system"
    return UserError(cut(path) or "a path", f"{problem}; use a shorter path")
