"""Telling the user a run or study has ended, through the terminal: the bell and a desktop notification.

A desktop notification is an escape sequence the terminal turns into one: OSC 9
(``ESC ] 9 ; text BEL``: iTerm2, kitty, WezTerm, Windows Terminal, Ghostty...) or OSC 777
(``ESC ] 777 ; notify ; title ; body BEL``: VTE terminals such as GNOME Terminal, rxvt, foot).
Both travel through SSH. Inside tmux (``$TMUX`` set) the sequence is wrapped for passthrough
(``ESC P tmux; ...ESC\\``, each ESC doubled), which tmux forwards only with
``set -g allow-passthrough on``. The bell is a plain BEL, which tmux handles itself.

``notification_text`` decides the characters; the app writes them through its terminal driver,
``vit-tui train --notify`` and ``vit-tui attach --notify`` to their own terminal.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .events import RunFailed, RunFinished, StepsLogged

BEL = "\x07"
ESC = "\x1b"
DIALECTS = ("auto", "osc9", "osc777")
MAX_BODY = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def terminal_dialect(environ: Mapping[str, str] = os.environ) -> str:
    """``osc777`` for terminals that speak it rather than OSC 9 (VTE, rxvt, foot), else ``osc9``."""
    term = environ.get("TERM", "")
    if environ.get("VTE_VERSION") or term.startswith(("rxvt", "foot")):
        return "osc777"
    return "osc9"


def clean(text: str, limit: int = MAX_BODY) -> str:
    """``text`` on one line without control characters (they would end or break the sequence), cut to ``limit``."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tmux_wrap(sequence: str) -> str:
    """``sequence`` wrapped for tmux's passthrough: every ESC doubled inside ``ESC P tmux; ... ESC \\``."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ESC}\\"


def notification_text(
    title: str,
    body: str,
    *,
    bell: bool = True,
    desktop: bool = True,
    dialect: str = "auto",
    environ: Mapping[str, str] = os.environ,
) -> str:
    """The characters to write to the terminal: BEL, then the desktop notification in the terminal's dialect."""
    out = BEL if bell else ""
    if not desktop:
        return out
    title, body = clean(title, 60), clean(body)
    if dialect == "auto":
        dialect = terminal_dialect(environ)
    if dialect == "osc777":
        sequence = f"{ESC}]777;notify;{title.replace(';', ',')};{body}{BEL}"
    else:
        sequence = f"{ESC}]9;{title}: {body}{BEL}"
    return out + (tmux_wrap(sequence) if environ.get("TMUX") else sequence)


@dataclass(frozen=True)
class Notice:
    """What to tell: a title, a line, and whether it is bad news."""

    title: str
    body: str
    bad: bool = False


def notice_for(event: Any, name: str = "") -> Notice | None:
    """The notice an engine event calls for: a run's end, its failure, a loss that is no number (else None)."""
    who = name or os.path.basename(str(getattr(event, "run_dir", "") or "")) or "the run"
    if isinstance(event, RunFinished):
        best = f", best val acc {event.best_val_acc:.1%} at epoch {event.best_epoch}" if event.best_epoch else ""
        return Notice(f"vit-tui: run {event.status}", f"{who} {event.status} after {event.epochs_done} epochs{best}",
                      bad=event.status != "finished")  # fmt: skip
    if isinstance(event, RunFailed):
        return Notice("vit-tui: run failed", f"{who}: {event.message}", bad=True)
    if isinstance(event, StepsLogged) and not math.isfinite(event.loss):
        return Notice("vit-tui: run diverged", f"{who}: the loss is {event.loss} at epoch {event.epoch}", bad=True)
    return None


class TerminalNotifier:
    """Writes a notice's bell and notification to one terminal (``vit-tui train/attach --notify``)."""

    def __init__(self, write: Callable[[str], None], environ: Mapping[str, str] = os.environ) -> None:
        self.write = write
        self.environ = environ
        self.sent: set[tuple[str, str]] = set()

    def event(self, event: Any, name: str = "") -> str:
        """Tell about ``event`` if it calls for it (each notice once); returns what was written."""
        notice = notice_for(event, name)
        if notice is None or (notice.title, notice.body) in self.sent:
            return ""
        self.sent.add((notice.title, notice.body))
        text = notification_text(notice.title, notice.body, environ=self.environ)
        self.write(text)
        return text


def tty_writer(stream: TextIO) -> Callable[[str], None] | None:
    """A writer straight to ``stream``'s terminal (None when it is no terminal: a log file gets no escapes)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    if not os.isatty(fd):
        return None

    def write(text: str) -> None:
        stream.flush()
        os.write(fd, text.encode("utf-8"))

    return write
