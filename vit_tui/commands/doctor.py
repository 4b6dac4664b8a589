"""``vit-tui doctor``: the facts of this machine and short probes, as a table (and JSON with ``--json``).

Run it on a new box before trusting a long run. Exit 0 when everything that applies passed, 1
when a probe failed; a CPU-only machine says what it could not check and exits 0. The table is
drawn with rich when it is installed, as plain text otherwise (a bare GPU box may lack it); the
engine part (``vit_tui.engine.doctor``) needs torch only.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

MARKS = {"pass": "✓", "fail": "✗", "skip": "—"}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``doctor``."""
    parser = subparsers.add_parser(
        "doctor",
        help="check this machine: versions, GPUs, and short training probes",
        description="Print torch, CUDA and driver versions, every visible GPU (capability, memory, MIG), NVML, "
        "NCCL, the attention backends and bf16 support, then run short probes on the device (each at most "
        "20 s): a few training steps eager and captured as a CUDA graph with every augmentation, a bf16 step, "
        "streamed against resident batches, the NVML line, and a 2-process NCCL all-reduce with two or more "
        "GPUs. Exit 0 when all that applies passes, 1 when a probe fails.",
    )
    parser.add_argument("--device", default="auto", help="device to probe: auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--json", metavar="FILE", help="also write the facts and probe results as JSON to FILE")
    parser.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Check the JSON path first, then gather, probe, print and write."""
    from ..outputs import output_file

    target = output_file(args.json, "--json", example="doctor.json") if args.json else None
    from ..engine.doctor import diagnose

    report = diagnose(args.device).as_dict()
    print(render(report))
    if target is not None:
        from ..files import write_text

        write_text(target, json.dumps(report, indent=2) + "\n")
    return int(report["exit_code"])


def fact_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The facts as (name, value) rows, in the order a reader wants them."""
    f = report["facts"]
    rows = [("torch", f"{f['torch']} (CUDA {f['cuda_runtime'] or 'none'})"), ("driver", f.get("driver", "—"))]
    for gpu in f.get("gpus", []):
        rows.append((f"cuda:{gpu['index']}", f"{gpu['name']} · capability {gpu['capability']} · "
                     f"{gpu['memory_gib']} GiB · MIG {gpu['mig']}"))  # fmt: skip
    if not f.get("gpus"):
        rows.append(("GPUs", "none visible: the CUDA probes are not run here"))
    rows += [
        ("NVML", str(f.get("nvml", "—"))),
        ("NCCL", str(f.get("nccl") or "—")),
        ("attention backends", ", ".join(f.get("sdpa_backends", [])) or "—"),
        ("bf16", "supported" if f.get("bf16") else "not supported"),
        ("CUBLAS_WORKSPACE_CONFIG", f.get("cublas_workspace_config") or "unset"),
    ]
    return rows


def verdict(report: dict[str, Any]) -> str:
    """One closing line: what passed, failed and could not be checked here."""
    checks = report["checks"]
    failed = [c["name"] for c in checks if c["status"] == "fail"]
    skipped = [c["name"] for c in checks if c["status"] == "skip"]
    passed = sum(c["status"] == "pass" for c in checks)
    text = f"{passed} passed" + (f", {len(failed)} failed: {', '.join(failed)}" if failed else "")
    if skipped:
        text += f"; not checked here: {', '.join(skipped)}"
    return text


def table(report: dict[str, Any]):
    """A rich renderable of the report (needs rich)."""
    from rich.console import Group
    from rich.table import Table

    facts = Table(title=f"vit-tui doctor · {report['device']}", show_header=False, box=None)
    for name, value in fact_lines(report):
        facts.add_row(f"[bold]{name}[/]", value)
    probes = Table(show_header=True, header_style="bold")
    for column in ("", "probe", "result", "s"):
        probes.add_column(column)
    colours = {"pass": "green", "fail": "red", "skip": "dim"}
    for c in report["checks"]:
        colour = colours[c["status"]]
        probes.add_row(f"[{colour}]{MARKS[c['status']]}[/]", c["name"], c["detail"], f"{c['seconds']:.1f}")
    return Group(facts, probes, verdict(report))


def plain(report: dict[str, Any]) -> str:
    """The report as plain text (no rich needed)."""
    lines = [f"vit-tui doctor · {report['device']}"]
    lines += [f"  {name}: {value}" for name, value in fact_lines(report)]
    lines += [f"{MARKS[c['status']]} {c['name']}: {c['detail']} ({c['seconds']:.1f} s)" for c in report["checks"]]
    return "\n".join([*lines, verdict(report)])


def render(report: dict[str, Any]) -> str:
    """The table as text for the terminal: rich when installed, plain otherwise."""
    try:
        from rich.console import Console
    except ImportError:
        return plain(report)
    console = Console(highlight=False, soft_wrap=False)
    with console.capture() as captured:
        console.print(table(report))
    return captured.get().rstrip("\n")
