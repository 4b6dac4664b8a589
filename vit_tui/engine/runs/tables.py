"""A run's CSV logs (``metrics.csv`` per epoch, ``steps.csv`` per log point): their columns, writing
and reading them back. Floats are written with ``repr``, so what is read back equals what the run
computed; a line cut short by a killed process is skipped when read.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ...files import write_error

METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")
STEP_FIELDS = ("epoch", "step", "global_step", "loss", "acc", "lr", "images_per_s", "elapsed_s")


def csv_text(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """The whole file's text: a header and one line per row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_exact_text(row))
    return out.getvalue()


def append_row(path: Path, fields: tuple[str, ...], row: dict[str, Any]) -> None:
    """Append one row to an append-only log (header written on first use)."""
    new = not path.exists()
    try:
        with open(path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(_exact_text(row))
    except OSError as exc:
        raise write_error(path, exc) from None


def read_csv(path: Path, ints: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows with numbers parsed (``ints`` as int, the rest float); a missing file has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        try:
            rows.append({k: int(v) if k in ints else float(v) for k, v in raw.items() if k is not None})
        except (TypeError, ValueError):
            continue  # a line cut short by a killed process
    return rows


def _exact_text(row: dict[str, Any]) -> dict[str, Any]:
    # repr keeps floats exact, so metrics read back equal what the run computed.
    return {k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()}
