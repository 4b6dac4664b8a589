"""The run list's filter and sort language, shared by ``vit-tui runs`` and the app's Runs screen.

A filter is words separated by spaces; a run is kept when every word holds. A plain word is
looked for (ignoring case) in the run's name, preset, status and dataset. A word
``COLUMN OP VALUE`` compares one column as the list shows it: ``acc>80`` (best validation
accuracy above 80%), ``epochs>=20`` (epochs done), ``status=finished``, ``started>2024-05-02``,
``preset!=fast``, ``run~seed1`` (contains). ``=`` and ``!=`` on text ignore case. A run without
a value in the column (no accuracy yet) fails every comparison but ``!=``.

A sort is a column name; ``-`` in front reverses it. Text sorts A to Z, numbers small to large.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import UserError

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


class Listed(Protocol):
    """What a listed run offers (``engine.runs.RunInfo``)."""

    name: str
    status: str
    preset: str
    epochs_done: int
    epochs: int
    best_val_acc: float | None
    started: str
    dataset: str


@dataclass(frozen=True)
class Term:
    """One word of a filter: a plain word (``column`` empty) or a comparison."""

    text: str
    column: str = ""
    op: str = ""

    def holds(self, run: Listed) -> bool:
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


def filter_runs(runs: Sequence[Listed], text: str) -> list:
    """The runs that pass every word of ``text`` (all of them for an empty filter), in their order."""
    terms = parse_filter(text)
    return [run for run in runs if all(term.holds(run) for term in terms)]


def parse_sort(text: str) -> tuple[str, bool]:
    """``(column, reverse)`` from ``acc`` or ``-acc``."""
    text = text.strip()
    reverse = text.startswith("-")
    return column_of(text.lstrip("-+"), "sort"), reverse


def sort_runs(runs: Sequence[Listed], column: str, reverse: bool = False) -> list:
    """The runs ordered by ``column``; runs without a value go last either way (the sort is stable)."""
    have = [run for run in runs if value(run, column) is not None]
    missing = [run for run in runs if value(run, column) is None]

    def key(run: Listed) -> Any:
        got = value(run, column)
        return got if column in NUMERIC else str(got).lower()

    return sorted(have, key=key, reverse=reverse) + missing


def value(run: Listed, column: str) -> Any:
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
