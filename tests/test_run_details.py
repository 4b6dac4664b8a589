"""Headless run details: config differences from a preset, curves and files, and a listing that re-reads only changed runs."""

from __future__ import annotations

import os

from tui_fixtures import make_fixed_run

from vit_tui.config import apply_overrides, config_diff
from vit_tui.engine.runs.details import RunListing, run_details
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.presets import preset


def test_config_diff_names_exactly_the_changed_keys():
    base = preset("fast")
    changed = apply_overrides(base, ["model.heads=4", "train.lr=0.01"])
    assert config_diff(changed, base) == [("model.heads", 4, base.model.heads), ("train.lr", 0.01, base.train.lr)]
    assert config_diff(base, preset("fast")) == []


def test_run_details_curves_differences_and_files(tmp_path):
    run = make_fixed_run(tmp_path, "einsum", attention="einsum", epochs=4, epochs_done=3)
    (run / ".lock").write_text("")  # the run lock's file: an internal, never listed
    details = run_details(run)
    assert details.preset == "reference" and details.problem == ""
    # The dataset is every run's own; only real departures from the preset are listed.
    reference = preset("reference")
    assert details.differences == [
        ("model.attention", "einsum", reference.model.attention),
        ("train.epochs", 4, reference.train.epochs),
    ]
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert details.val_acc == [float(r[4]) for r in rows] and len(details.train_loss) == 3
    assert dict(details.files)["metrics.csv"] == (run / "metrics.csv").stat().st_size
    assert {"config.toml", "summary.json", "events.jsonl", "evaluation.json"} <= dict(details.files).keys()
    assert ".lock" not in dict(details.files)


def test_run_details_name_a_damaged_config_instead_of_raising(tmp_path):
    run = make_fixed_run(tmp_path, "broken")
    (run / "config.toml").write_text("model = [")
    details = run_details(run)
    assert "config.toml" in details.problem and details.differences == [] and details.val_acc


def test_listing_reads_again_only_runs_whose_files_changed(tmp_path):
    for name in ("a", "b", "c"):
        make_fixed_run(tmp_path, name, started=f"2024-05-0{ord(name) - 96} 10:00:00")
    listing = RunListing(tmp_path)
    runs, changed = listing.refresh()
    assert {r.name for r in runs} == {"a", "b", "c"} and changed == {tmp_path / n for n in "abc"}
    assert listing.reads == 3
    runs, changed = listing.refresh()
    assert changed == set() and listing.reads == 3 and len(runs) == 3
    # A summary rewritten (size or time changed) is read again, and only it.
    summary = RunFolder(tmp_path / "b").read_summary()
    RunFolder(tmp_path / "b").write_summary({**summary, "epochs_done": 2})
    stat = (tmp_path / "b" / "summary.json").stat()
    os.utime(tmp_path / "b" / "summary.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    runs, changed = listing.refresh()
    assert changed == {tmp_path / "b"} and listing.reads == 4
    assert next(r for r in runs if r.name == "b").epochs_done == 2
    # A removed run leaves the list and counts as changed.
    (tmp_path / "c" / "summary.json").unlink()
    runs, changed = listing.refresh()
    assert [r.name for r in runs if r.name == "c"] == [] and tmp_path / "c" in changed


def test_follower_reads_only_appended_bytes_and_restarts_on_a_shorter_file(tmp_path):
    from vit_tui.engine.telemetry.events import PhaseChanged
    from vit_tui.engine.telemetry.sinks import FileSink

    run = make_fixed_run(tmp_path, "followed")
    events_file = run / "events.jsonl"
    follower = RunFolder(run).follow()
    first = follower.poll()
    assert first and follower._offset == events_file.stat().st_size
    assert follower.poll() == []
    # A half-written line waits; appended bytes alone are read once it is whole.
    line = (events_file.read_bytes().splitlines(keepends=True))[0]
    with open(events_file, "ab") as handle:
        handle.write(line[:10])
    assert follower.poll() == []
    with open(events_file, "ab") as handle:
        handle.write(line[10:])
    assert [type(e) for e in follower.poll()] == [type(first[0])]
    # Rewritten shorter (as a resume does): read again from the start, nothing of the old partial kept.
    events_file.write_bytes(b"")
    sink = FileSink(events_file)
    sink(PhaseChanged("evaluate", "best checkpoint"))
    sink.close()
    assert [(type(e), e.phase) for e in follower.poll()] == [(PhaseChanged, "evaluate")]
