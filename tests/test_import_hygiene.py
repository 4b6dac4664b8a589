"""The engine packages never pull in UI libraries."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time


def test_headless_packages_import_no_ui_library() -> None:
    code = (
        "import json, sys, importlib, pkgutil\n"
        "import vit_tui.data, vit_tui.model, vit_tui.engine, vit_tui.study\n"
        "for pkg in (vit_tui.data, vit_tui.model, vit_tui.engine, vit_tui.study):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# Wall time of `python -m vit_tui --help` (interpreter start included), median of 11 runs on the
# shared 2-core development box: 0.09 s (0.08 to 0.18 s). The bound is three times that, taken on
# the median of a few runs so one slow start on a busy machine does not fail it; a module-level
# import of numpy, torch or textual on the way to --help (0.4 s and more) does.
HELP_SECONDS = 0.30
HELP_RUNS = 5


def test_cli_help_is_fast_and_lists_subcommands() -> None:
    seconds = []
    for _ in range(HELP_RUNS):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "vit_tui", "--help"], capture_output=True, text=True, check=True)
        seconds.append(time.perf_counter() - started)
        assert "model" in out.stdout
    median = statistics.median(seconds)
    assert median < HELP_SECONDS, f"vit-tui --help took {median:.2f} s (median of {seconds}); see what it imports"
