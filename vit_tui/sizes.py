"""Byte sizes as people write them ("512MiB", "2GiB", "1.5GB", "1048576") and as the program prints them.

Headless and dependency-free: the config validates ``train.data_memory_budget`` with it before
torch is imported.
"""

from __future__ import annotations

import re

UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
SIZE_EXAMPLES = "a number of bytes or a size like 512MiB, 2GiB or 1.5GB"


def parse_size(text: str) -> int:
    """Bytes in ``text`` (decimal kB/MB/GB/TB or binary KiB/MiB/GiB/TiB); ValueError when unreadable."""
    match = _SIZE.match(str(text))
    if match is None or match.group(2).lower() not in UNITS:
        raise ValueError(text)
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def format_size(n: int | float) -> str:
    """``n`` bytes in binary units with one decimal: ``512 B``, ``3.1 GiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
