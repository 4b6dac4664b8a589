"""Fault suite for the files vit-tui reads back: each is checked by one schema (``vit_tui.schemas``).

A damaged ``evaluation.json``, ``summary.json``, ``config.toml`` or ``plan.json`` given to ``report``
or ``compare`` is one line naming the file and the field, exit 2, and nothing half-written; and
every file the program writes today reads back through its schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from tui_fixtures import (
    make_fixed_run,
    make_fixed_study,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    tiny_config,
)

from vit_tui import schemas
from vit_tui.cli import main


def one_line(capsys, argv: list[str]) -> str:
    """The single stderr line of a command refused with exit code 2."""
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vit-tui: "), (code, err)
    return lines[0]


def two_runs(home: Path) -> tuple[Path, Path]:
    runs = home / "runs"
    return make_fixed_run(runs, "a", attention="mha"), make_fixed_run(runs, "b", attention="mha", skill=0.1)


def evaluation_with(**changes) -> str:
    from tui_fixtures import fixed_evaluation

    from vit_tui.engine.infer.metrics import save_evaluation

    folder = Path(changes.pop("_folder"))
    save_evaluation(folder, fixed_evaluation(), {"checkpoint": "best"})
    data = json.loads((folder / "evaluation.json").read_text())
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return json.dumps(data)


# --- problem 10: evaluation.json of the wrong shape ------------------------------------------------

# name: (what evaluation.json holds, given the folder to build it in; what the line must say)
BAD_EVALUATIONS = {
    "null": (lambda d: "null", "holds null instead of an object"),
    "a list": (lambda d: "[]", "holds [] instead of an object"),
    "an empty object": (lambda d: "{}", 'field "accuracy" is missing'),
    "no loss": (lambda d: evaluation_with(_folder=d, loss=...), 'field "loss" is missing'),
    "accuracy as text": (
        lambda d: evaluation_with(_folder=d, accuracy="high"),
        'field "accuracy": expected a number, got text',
    ),
    "confusion not square": (
        lambda d: evaluation_with(_folder=d, confusion=[[3, 1], [1, 2], [0, 1]]),
        'field "confusion[0]" has 2 values for 3 classes',
    ),
    "confusion of another size": (
        lambda d: evaluation_with(_folder=d, confusion=[[3, 1], [1, 2]]),
        'field "confusion" has 2 rows for 3 classes',
    ),
    "a negative count": (
        lambda d: evaluation_with(_folder=d, confusion=[[3, 1, 0], [-1, 2, 1], [0, 1, 3]]),
        'field "confusion[1][0]": expected a whole number >= 0',
    ),
}


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("case", list(BAD_EVALUATIONS))
def test_a_wrongly_shaped_evaluation_is_one_line_naming_file_and_field(tmp_path, capsys, case, command):
    a, b = two_runs(tmp_path)
    content, expected = BAD_EVALUATIONS[case]
    (b / "evaluation.json").write_text(content(b), encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in b.iterdir()}
    out = tmp_path / "cmp"
    argv = ["report", str(b)] if command == "report" else ["compare", str(a), str(b), "--out", str(out)]
    line = one_line(capsys, ["--home", str(tmp_path), *argv])
    assert f"{b / 'evaluation.json'}: {expected}" in line, line
    assert {p.name: p.stat().st_mtime_ns for p in b.iterdir()} == before  # no report file rewritten
    assert not out.exists()  # compare made no half-written --out folder


def test_compare_runs_again_without_force_once_the_evaluation_is_mended(tmp_path, capsys):
    a, b = two_runs(tmp_path)
    good = (b / "evaluation.json").read_text()
    (b / "evaluation.json").write_text("[]")
    out = tmp_path / "cmp"
    argv = ["--home", str(tmp_path), "compare", str(a), str(b), "--out", str(out)]
    one_line(capsys, argv)
    (b / "evaluation.json").write_text(good)
    assert main(argv) == 0, capsys.readouterr().err
    assert (out / "comparison.md").is_file()


# --- problems 10 and 21: a damaged summary, config or plan ------------------------------------------


def _plan_without_runs_root(study: Path) -> None:
    plan = json.loads((study / "plan.json").read_text())
    del plan["runs_root"]
    (study / "plan.json").write_text(json.dumps(plan))


# name: (file of run b or the study to damage, its new content or a function, command, what the line must say)
DAMAGED_FILES = {
    "compare, summary cut short": ("summary.json", '{"status": "finished", "cla', "compare", "is not valid JSON"),
    "compare, summary null": ("summary.json", "null", "compare", "holds null instead of an object"),
    "compare, summary with text params": (
        "summary.json",
        '{"status": "finished", "params": "many"}',
        "compare",
        'field "params": expected a whole number, got text',
    ),
    "compare, empty config": ("config.toml", "", "compare", "is empty"),
    "compare, config without its tables": ("config.toml", 'preset = "reference"\n', "compare", 'field "data" is missing'),
    "report, summary cut short": ("summary.json", '{"status": "fin', "report", "is not valid JSON"),
    "report, empty config": ("config.toml", "", "report", "is empty"),
    "report, plan cut short": ("plan.json", '{"kind": "sweep", "na', "report-study", "is not valid JSON"),
    "report, plan a list": ("plan.json", "[]", "report-study", "holds [] instead of an object"),
    "report, plan without runs_root": ("plan.json", _plan_without_runs_root, "report-study", 'field "runs_root" is missing'),
}


@pytest.mark.parametrize("case", list(DAMAGED_FILES))
def test_a_damaged_file_is_named_in_one_line(tmp_path, capsys, case):
    name, content, command, expected = DAMAGED_FILES[case]
    if command == "report-study":
        target = make_fixed_study(tmp_path)
        argv = ["report", str(target)]
    else:
        a, target = two_runs(tmp_path)
        out = tmp_path / "cmp"
        argv = ["report", str(target)] if command == "report" else ["compare", str(a), str(target), "--out", str(out)]
    if callable(content):
        content(target)
    else:
        (target / name).write_text(content, encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    line = one_line(capsys, ["--home", str(tmp_path), *argv])
    assert f"{target / name}: {expected}" in line, line
    assert {p.name: p.stat().st_mtime_ns for p in target.iterdir()} == before
    assert not (tmp_path / "cmp").exists()


# --- every file written today reads back through its schema -------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """A home with a dataset, a one-run sweep trained for real, that run exported, and a saved setting."""
    from vit_tui.engine.deploy.export import export_model
    from vit_tui.study.api import sweep

    home = tmp_path_factory.mktemp("home")
    data = make_tiny_dataset(home / "data")
    report = sweep(home, tiny_config(str(data)), [("model.heads", ["2"])], [1], out=home / "sw")
    assert report.status == "finished", report
    export_model(next((home / "runs").iterdir()), "torchscript")
    return home


def test_every_file_vit_tui_writes_reads_back_through_its_schema(written, monkeypatch):
    from vit_tui.tui.settings import SETTINGS_ENV, load_settings, save_setting

    monkeypatch.setenv(SETTINGS_ENV, str(written / "settings"))
    save_setting("theme", "textual-dark")
    run = next((written / "runs").iterdir())
    files = {
        written / "data" / "tiny" / "manifest.json": schemas.Manifest,
        written / "sw" / "plan.json": schemas.Plan,
        run / "study.json": schemas.StudyMarker,
        run / "summary.json": schemas.Summary,
        run / "evaluation.json": schemas.Evaluation,
        run / "config.toml": schemas.RunConfigFile,
        next((run / "export").glob("*.json")): schemas.Sidecar,
        written / "settings" / "settings.json": schemas.Settings,
    }
    for path, model in files.items():
        assert isinstance(schemas.load(path, model), model), path
    assert schemas.load(run / "summary.json", schemas.Summary).status == "finished"
    assert load_settings() == {"theme": "textual-dark"}


def test_a_damaged_settings_file_counts_as_no_settings(tmp_path, monkeypatch):
    from vit_tui.tui.settings import SETTINGS_ENV, load_settings

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path))
    for content in ("null", "[1]", '{"theme": 3}', '{"the'):
        (tmp_path / "settings.json").write_text(content)
        assert load_settings() == {}, content
