"""The run list's filter and sort language (``engine.runs.query``), shared by ``vit-tui runs`` and the Runs screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from vit_tui.engine.runs.listing import RunInfo
from vit_tui.engine.runs.query import column_of, filter_runs, parse_sort, sort_runs
from vit_tui.errors import UserError


def _run(name, status="finished", preset="fast", done=3, epochs=3, acc=0.5, started="2024-05-01 12:00:00",
         dataset="data/tiny") -> RunInfo:  # fmt: skip
    return RunInfo(name, Path(name), status, preset, done, epochs, acc, started, [], dataset=dataset)


RUNS = [
    _run("fast-20261207-174940", acc=0.84, done=20, epochs=20, started="2026-12-07 17:49:40"),
    _run("sweep-fast-ab12-heads2-seed1", status="interrupted", done=2, epochs=5, acc=0.61, dataset="data/coco-cars"),
    _run("reference-20240501", preset="reference", acc=None, status="running", done=0, epochs=30),
    _run("custom-run", preset="", acc=0.8, started="2024-04-30 08:00:00"),
]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        pytest.param("", [r.name for r in RUNS], id="empty-keeps-all"),
        pytest.param("seed1", ["sweep-fast-ab12-heads2-seed1"], id="word-in-name"),
        pytest.param("REFERENCE", ["reference-20240501"], id="word-ignores-case"),
        pytest.param("coco", ["sweep-fast-ab12-heads2-seed1"], id="word-in-dataset"),
        pytest.param("interrupted", ["sweep-fast-ab12-heads2-seed1"], id="word-in-status"),
        pytest.param("acc>80", ["fast-20261207-174940"], id="acc-as-shown-percent"),
        pytest.param("acc>=80%", ["fast-20261207-174940", "custom-run"], id="acc-with-percent-sign"),
        pytest.param("acc < 70", ["sweep-fast-ab12-heads2-seed1"], id="spaces-around-operator"),
        pytest.param("acc!=80", ["fast-20261207-174940", "sweep-fast-ab12-heads2-seed1", "reference-20240501"],
                     id="no-acc-passes-not-equal"),  # fmt: skip
        pytest.param("epochs>=20", ["fast-20261207-174940"], id="epochs-done"),
        pytest.param("status=finished", ["fast-20261207-174940", "custom-run"], id="status-equals"),
        pytest.param("preset=custom", ["custom-run"], id="empty-preset-is-custom"),
        pytest.param("started>2026", ["fast-20261207-174940"], id="started-as-text"),
        pytest.param("fast acc>60", ["fast-20261207-174940", "sweep-fast-ab12-heads2-seed1"], id="words-all-hold"),
        pytest.param("run~heads2", ["sweep-fast-ab12-heads2-seed1"], id="contains"),
        pytest.param("name=custom-run", ["custom-run"], id="alias-name"),
        pytest.param("stat=running", ["reference-20240501"], id="column-prefix"),
    ],
)
def test_filter_keeps_the_runs_every_word_holds_for(text, names):
    assert [r.name for r in filter_runs(RUNS, text)] == names


@pytest.mark.parametrize(
    ("text", "said"),
    [
        pytest.param("colour=red", "no column 'colour'", id="unknown-column"),
        pytest.param("acc>high", "acc compares with a number", id="acc-not-a-number"),
        pytest.param("epochs>=x", "epochs>=20", id="epochs-not-a-number"),
    ],
)
def test_a_bad_filter_is_one_user_error(text, said):
    with pytest.raises(UserError) as caught:
        filter_runs(RUNS, text)
    assert said in str(caught.value)


def test_sort_by_any_column_and_reverse_runs_without_a_value_last():
    assert [r.name for r in sort_runs(RUNS, "acc")][:3] == ["sweep-fast-ab12-heads2-seed1", "custom-run",
                                                            "fast-20261207-174940"]  # fmt: skip
    assert [r.name for r in sort_runs(RUNS, "acc", reverse=True)][-1] == "reference-20240501"
    assert [r.name for r in sort_runs(RUNS, "run")] == sorted(r.name for r in RUNS)
    assert [r.name for r in sort_runs(RUNS, "started")][0] == "custom-run"
    assert parse_sort("-acc") == ("acc", True)
    assert parse_sort("epochs") == ("epochs", False)


def test_sort_names_an_unknown_column():
    with pytest.raises(UserError) as caught:
        parse_sort("speed")
    assert str(caught.value).startswith("sort: no column 'speed'")
    assert column_of("best acc") == "acc"


# --- vit-tui runs --filter/--sort/--csv/--json ---------------------------------------------------


@pytest.fixture
def listed(tmp_path):
    from tui_fixtures import make_fixed_run

    make_fixed_run(tmp_path / "runs", "ref-dlstudio", started="2024-05-01 12:00:00")
    make_fixed_run(tmp_path / "runs", "fast-20261207-174940", skill=0.1, started="2026-12-07 17:49:40")
    make_fixed_run(tmp_path / "runs", "cut-short", status="interrupted", epochs=5, epochs_done=2, evaluated=False)
    return tmp_path


def test_runs_json_lists_the_filtered_runs_sorted(listed, capsys):
    import json

    from vit_tui.cli import main

    assert main(["--home", str(listed), "runs", "--filter", "status=finished", "--sort=-acc", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["fast-20261207-174940", "ref-dlstudio"]
    assert records[0]["best_val_acc"] == pytest.approx(0.68) and records[0]["dataset"] == "data/tiny"


def test_runs_csv_writes_the_listed_runs_whole(listed, capsys):
    import csv

    from vit_tui.cli import main

    out = listed / "out" / "runs.csv"
    assert main(["--home", str(listed), "runs", "--filter", "epochs<3", "--csv", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["name"], r["status"], r["best_val_acc"]) for r in rows] == [("cut-short", "interrupted", "0.58")]
    assert "wrote" in capsys.readouterr().out


def test_runs_with_a_bad_filter_says_so_in_one_line_and_writes_nothing(listed, capsys):
    from vit_tui.cli import main

    out = listed / "runs.csv"
    assert main(["--home", str(listed), "runs", "--filter", "acc>high", "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vit-tui: filter: acc compares with a number") and err.count("\n") == 1
    assert not out.exists()


# --- fitting the list to a narrow terminal ------------------------------------------------------


@pytest.mark.parametrize(
    ("room", "longest", "widths"),
    [
        pytest.param(80, 32, (32, 19), id="room-for-all"),
        pytest.param(45, 32, (26, 19), id="the-name-gives-way-first"),
        pytest.param(34, 32, (18, 16), id="then-the-seconds-go"),
        pytest.param(28, 32, (17, 11), id="then-the-year"),
        pytest.param(23, 32, (16, 5), id="then-the-time-date-never-under-its-header"),
        pytest.param(10, 32, (8, 5), id="name-floor"),
        pytest.param(24, 9, (9, 11), id="a-short-name-keeps-more-date"),
    ],
)
def test_fit_name_and_date(room, longest, widths):
    from vit_tui.engine.runs.query import fit_name_and_date

    assert fit_name_and_date(room, longest, 19, date_header=7) == widths


def test_short_date_and_middle_cut():
    from vit_tui.engine.runs.query import middle_cut, short_date

    started = "2026-12-08 09:15:02"
    assert [short_date(started, w) for w in (19, 16, 11, 5)] == [started, "2026-12-08 09:15", "12-08 09:15", "12-08"]
    assert short_date("", 5) == ""
    assert middle_cut("reference-einsum-20261208-091502", 16) == "referenc…-091502"
