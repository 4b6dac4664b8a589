"""The engine packages never pull in UI libraries."""

from __future__ import annotations

import json
import subprocess
import sys


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


def test_cli_help_is_fast_and_lists_subcommands() -> None:
    out = subprocess.run([sys.executable, "-m", "vit_tui", "--help"], capture_output=True, text=True, check=True)
    assert "model" in out.stdout
