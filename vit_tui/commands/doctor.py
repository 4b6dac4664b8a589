"""``vit-tui doctor``: the facts of this machine and short probes, as a table (and JSON with ``--json``).

Run it on a new box before trusting a long run. Exit 0 when everything that applies passed, 1
when a probe failed; a CPU-only machine says what it could not check and exits 0. The table is
drawn by ``vit_tui.views.doctor`` (rich when it is installed, plain text otherwise: a bare GPU box
may lack it); the engine part (``vit_tui.engine.doctor``) needs torch only.
"""

from __future__ import annotations

import argparse
import json

from .common import add_command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``doctor``."""
    parser = add_command(subparsers, "doctor", run_doctor)
    parser.add_argument("--device", default="auto", help="device to probe: auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--json", metavar="FILE", help="also write the facts and probe results as JSON to FILE")


def run_doctor(args: argparse.Namespace) -> int:
    """Check the JSON path first, then gather, probe, print and write."""
    from ..outputs import output_file

    target = output_file(args.json, "--json", example="doctor.json") if args.json else None
    from ..engine.doctor import diagnose
    from ..views.doctor import render

    report = diagnose(args.device).as_dict()
    print(render(report))
    if target is not None:
        from ..files import write_text

        write_text(target, json.dumps(report, indent=2) + "\n")
    return int(report["exit_code"])
