"""The run list's filter and sort language, shared by ``vit-tui runs`` and the app's Runs screen.

A filter is words separated by spaces; a run is kept when every word holds. A plain word is
looked for (ignoring case) in the run's name, preset, status and dataset. A word
``COLUMN OP VALUE`` compares one column as the list shows it: ``acc>80`` (best validation
accuracy above 80%), ``epochs>=20`` (epochs done), ``status=finished``, ``started>2024-05-02``,
``preset!=fast``, ``run~seed1`` (contains). ``=`` and ``!=`` on text ignore case. A run without
a value in the column (no accuracy yet) fails every comparison but ``!=``.

A sort is a column name; ``-`` in front reverses it. Text sorts A to Z, numbers small to large.

``fit_name_and_date`` and ``short_date`` decide how the list fits a narrow terminal: the name
column gives way first (cut in the middle, keeping its distinguishing end), then the start time
is shortened; status, preset, epochs and accuracy are always whole.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import UserError
from .listing import RunInfo

COLUMNS = ("run", "status", "preset", "epochs", "acc", "started", "dataset")
"""The columns a filter or sort names, in the order of the list."""
ALIASES = {"name": "run", "best": "acc", "best_acc": "acc", "val_acc": "acc", "accuracy": "acc", "date": "started"}
NUMERIC = ("epochs", "acc")
TEXT_FIELDS = ("run", "preset", "status", "dataset")
"""What a plain word is looked for in."""
OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "=": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
    "~": lambda value, wanted: wanted in value,
}
_COMPARISON = re.compile(r"^([A-Za-z_]+)\s*(>=|<=|!=|=|>|<|~)\s*(.*)$")
_SPACED = re.compile(r"\s*(>=|<=|!=|=|>|<|~)\s*")


@dataclass(frozen=True)
class Term:
    """One word of a filter: a plain word (``column`` empty) or a comparison."""

    text: str
    column: str = ""
    op: str = ""

    def holds(self, run: RunInfo) -> bool:
        """True when ``run`` passes this word."""
        if not self.column:
            needle = self.text.lower()
            return any(needle in str(value(run, field)).lower() for field in TEXT_FIELDS)
        have = value(run, self.column)
        if have is None:
            return self.op == "!="
        wanted: Any = self.text
        if self.column in NUMERIC:
            wanted = _number(self.column, self.text)
        else:
            have, wanted = str(have).lower(), wanted.lower()
        return OPERATORS[self.op](have, wanted)


def column_of(name: str, subject: str = "filter") -> str:
    """The column ``name`` stands for (an alias or a prefix of one); a ``UserError`` naming the columns if none."""
    key = name.strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    if key in COLUMNS:
        return key
    starts = [c for c in COLUMNS if c.startswith(key)] if key else []
    if len(starts) == 1:
        return starts[0]
    raise UserError(subject, f"no column {name!r}; the columns are {', '.join(COLUMNS)}")


def parse_filter(text: str) -> list[Term]:
    """The words of ``text``; a comparison naming an unknown column or a non-number is a ``UserError``."""
    # "acc > 80" is one comparison: close the spaces around operators before splitting into words.
    words = _SPACED.sub(lambda m: m.group(1), text.strip()).split()
    terms = []
    for word in words:
        match = _COMPARISON.match(word)
        if match is None:
            terms.append(Term(word))
            continue
        column = column_of(match.group(1))
        wanted = match.group(3)
        if column in NUMERIC:
            _number(column, wanted)  # checked now, so a typo is said before anything is listed
        terms.append(Term(wanted, column, match.group(2)))
    return terms


def filter_runs(runs: Sequence[RunInfo], text: str) -> list:
    """The runs that pass every word of ``text`` (all of them for an empty filter), in their order."""
    terms = parse_filter(text)
    return [run for run in runs if all(term.holds(run) for term in terms)]


def parse_sort(text: str) -> tuple[str, bool]:
    """``(column, reverse)`` from ``acc`` or ``-acc``."""
    text = text.strip()
    reverse = text.startswith("-")
    return column_of(text.lstrip("-+"), "sort"), reverse


def sort_runs(runs: Sequence[RunInfo], column: str, reverse: bool = False) -> list:
    """The runs ordered by ``column``; runs without a value go last either way (the sort is stable)."""
    have = [run for run in runs if value(run, column) is not None]
    missing = [run for run in runs if value(run, column) is None]

    def key(run: RunInfo) -> Any:
        got = value(run, column)
        return got if column in NUMERIC else str(got).lower()

    return sorted(have, key=key, reverse=reverse) + missing


def value(run: RunInfo, column: str) -> Any:
    """The column's value for ``run``: a number for ``epochs`` (done) and ``acc`` (percent), else text."""
    if column == "run":
        return run.name
    if column == "preset":
        return run.preset or "custom"
    if column == "epochs":
        return run.epochs_done
    if column == "acc":
        return None if run.best_val_acc is None else round(run.best_val_acc * 100, 1)
    return getattr(run, column) or ""


def _number(column: str, text: str) -> float:
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        example = "acc>80 (80%)" if column == "acc" else "epochs>=20"
        raise UserError("filter", f"{column} compares with a number, not {text!r}; e.g. {example}") from None


# --- fitting the list to a width ---------------------------------------------------------------

DATE_WIDTHS = (19, 16, 11, 5)
"""``2024-05-02 10:00:00``, ``2024-05-02 10:00``, ``05-02 10:00``, ``05-02``: the start time, widest first."""
NAME_MIN = 16
"""The name column shrinks to this before the start time is shortened."""
NAME_FLOOR = 8


def short_date(started: str, width: int) -> str:
    """``started`` (``YYYY-MM-DD HH:MM:SS``) in at most ``width`` characters: seconds, then the year, then the time go."""
    if len(started) <= width or len(started) < 19:
        return started[:width] if width < len(started) else started
    if width >= 16:
        return started[:16]
    if width >= 11:
        return started[5:16]
    return started[5:10]


def fit_name_and_date(room: int, longest_name: int, longest_date: int = 19, date_header: int = 0) -> tuple[int, int]:
    """(name width, date width) for ``room`` characters shared by the name and start columns.

    The name gives way first, down to ``NAME_MIN`` (or its own length); only then is the date
    shortened. The date column is never narrower than its header (``date_header``).
    """
    longest_date = max(DATE_WIDTHS[-1], longest_date)
    dates = [w for w in DATE_WIDTHS if w <= longest_date] or [longest_date]
    wanted = min(longest_name, NAME_MIN)
    for date in dates:
        if room - max(date, date_header) >= wanted:
            return min(longest_name, room - max(date, date_header)), date
    return max(NAME_FLOOR, min(longest_name, room - max(dates[-1], date_header))), dates[-1]


def middle_cut(name: str, width: int) -> str:
    """``name`` cut to ``width`` characters in the middle, keeping the start and the distinguishing end."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return f"{name[: width - 1 - tail]}…{name[len(name) - tail :]}"
