"""The doctor's report drawn for a reader: one drawing the command line prints and the app shows.

Rows and the closing verdict come from the report dict alone; ``table`` needs rich, ``plain``
does not (a bare GPU box may lack rich), and ``render`` picks.
"""

from __future__ import annotations

from typing import Any

MARKS = {"pass": "✓", "fail": "✗", "skip": "—"}


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
