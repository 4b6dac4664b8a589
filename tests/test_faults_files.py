"""Fault suite for files: all-or-nothing writes, full disks, unwritable output, damaged run files.

Each case names what goes wrong and checks what the user sees (one line, exit code 2) and what
is left on disk (the old file or the new one, never a temp file, never a half-written one).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture

from vit_tui import files
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.files import WriteError, write_bytes, write_text, write_with

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name)


# --- one file-writing module -----------------------------------------------------------------


class Boom(Exception):
    """Raised by a writer callback half-way through."""


def _raise_midway(handle) -> None:
    handle.write(b"half of the new ")
    raise Boom


def _enospc_midway(handle) -> None:
    handle.write(b"half of the new ")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize(
    ("case", "callback", "error"),
    [
        ("callback raises", _raise_midway, Boom),
        ("disk full midway", _enospc_midway, WriteError),
        ("interrupted", lambda handle: (handle.write(b"x"), (_ for _ in ()).throw(KeyboardInterrupt)), KeyboardInterrupt),
    ],
)
def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, case, callback, error):
    target = tmp_path / "summary.json"
    target.write_text("old content")
    with pytest.raises(error):
        write_with(target, callback)
    assert target.read_text() == "old content", case
    assert temp_files(tmp_path) == [], case


def test_disk_full_is_one_line_naming_the_file_and_the_space_needed(tmp_path):
    target = tmp_path / "metrics.csv"

    def full(handle) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError) as caught:
        write_with(target, full, size=5_000_000)
    message = str(caught.value)
    assert message.startswith(str(target)) and "disk is full" in message and "4.8 MB needed" in message
    assert "\n" not in message and caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert not target.exists() and temp_files(tmp_path) == []


def test_new_files_get_the_umask_mode_and_the_umask_is_never_touched(tmp_path, monkeypatch):
    def no_umask(_mask):
        raise AssertionError("a write changed the process umask")

    monkeypatch.setattr(os, "umask", no_umask)
    for name, write in (("a.txt", lambda p: write_text(p, "x")), ("b.bin", lambda p: write_bytes(p, b"x"))):
        write(tmp_path / name)
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~files.UMASK


def test_two_writers_of_one_file_never_share_a_temp_file(tmp_path):
    # Both callbacks are inside their temp files at once: a fixed temp name would mix the two.
    target = tmp_path / "confusion_matrix.png"
    both_in = threading.Barrier(2, timeout=10)

    def writer(payload: bytes):
        def callback(handle) -> None:
            handle.write(payload[:100])
            both_in.wait()
            handle.write(payload[100:])

        return callback

    payloads = [bytes([i]) * 5000 for i in (1, 2)]
    threads = [threading.Thread(target=write_with, args=(target, writer(p))) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_bytes() in payloads
    assert temp_files(tmp_path) == []


# Every way Python code can create or replace a file; a hit outside files.py must be listed below.
RAW_WRITERS = {
    "open for writing": r"\bopen\([^)]*[\"'][wax]b?\+?[\"']",
    "os.open": r"\bos\.open\(",
    "temp file or folder": r"\bmk[sd]temp\(",
    "rename": r"\bos\.(replace|rename)\(",
    "Path.write_text/bytes": r"(?<!files)\.write_(text|bytes)\(",
    "umask": r"\bos\.umask\(",
    "save to a path": r"\b(torch\.save|np\.save|\.savefig)\((?![^)]*\bhandle\b)",
}
# (file, writer): why this file may write without files.py. Appends are flushed line by line and
# cut back on resume; whole folders are built in a temporary sibling and renamed into place.
ALLOWED_WRITERS = {
    ("vit_tui/engine/runs/tables.py", "open for writing"): "steps.csv: an append-only log of the run it belongs to",
    ("vit_tui/engine/telemetry/sinks.py", "open for writing"): "events.jsonl: an append-only log of the run it belongs to",
    ("vit_tui/engine/parallel/detach.py", "open for writing"): (
        "train.log or study.log: a detached trainer's or a study child's output, in its own run folder"
    ),
    ("vit_tui/data/imaging.py", "open for writing"): "JPEGs inside a dataset's temporary build folder",
    ("vit_tui/locks.py", "os.open"): "the lock file itself, created once and never replaced",
    ("vit_tui/data/stage.py", "temp file or folder"): "a dataset is built in a temporary sibling folder",
    ("vit_tui/data/stage.py", "rename"): "the built dataset folder is renamed into place whole",
}


def raw_writers() -> set[tuple[str, str]]:
    hits = set()
    for path in sorted((ROOT / "vit_tui").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "vit_tui/files.py":
            continue
        text = path.read_text(encoding="utf-8")
        hits |= {(rel, name) for name, pattern in RAW_WRITERS.items() if re.search(pattern, text)}
    return hits


def test_every_writer_goes_through_the_files_module():
    # Writing whole files anywhere else would bring back the temp-name and permission mix-ups,
    # and would skip the output-path check.
    hits = raw_writers()
    assert sorted(hits - ALLOWED_WRITERS.keys()) == []


def test_the_writer_scan_finds_each_kind_of_raw_writer_and_lists_nothing_stale():
    samples = {
        "open for writing": ['open(p, "a")', "open(p, 'wb')", 'open(p, "w", encoding="utf-8")'],
        "os.open": ["os.open(p, os.O_CREAT)"],
        "temp file or folder": ["tempfile.mkstemp(dir=d)", "tempfile.mkdtemp()"],
        "rename": ["os.replace(a, b)", "os.rename(a, b)"],
        "Path.write_text/bytes": ["p.write_text(t)", "p.write_bytes(b)"],
        "umask": ["os.umask(0)"],
        "save to a path": ["torch.save(obj, path)", "np.save(path, a)", "fig.savefig(path)"],
    }
    for name, lines in samples.items():
        for line in lines:
            assert re.search(RAW_WRITERS[name], line), (name, line)
    for line in ["files.write_text(p, t)", "torch.save(obj, handle)", "fig.savefig(handle, format='png')"]:
        assert not any(re.search(pattern, line) for pattern in RAW_WRITERS.values()), line
    assert sorted(ALLOWED_WRITERS.keys() - raw_writers()) == []  # an allowance nobody needs is removed


# --- disk full during training -----------------------------------------------------------------

CLASSES = ["stripes", "dots", "plain"]
TINY = [
    "model.embed_dim=16",
    "model.heads=2",
    "model.blocks=1",
    "model.image_size=32",
    "model.patch_size=8",
    "model.ffn=mlp",
    "model.attention=mha",
    "train.epochs=2",
    "train.batch_size=16",
    "train.device=cpu",
    "train.precision=fp32",
    "train.deterministic=true",
    "train.eval_batch_size=64",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    import numpy as np

    from vit_tui.data.stage import write_dataset

    def images(count: int, seed: int):
        rng = np.random.default_rng(seed)
        labels = np.arange(count) % len(CLASSES)
        pictures = rng.integers(0, 60, (count, 32, 32, 3), dtype=np.uint8)
        for i, label in enumerate(labels):
            pictures[i, :, label * 10 : label * 10 + 8] += 150  # a class-coloured stripe: learnable
        return pictures, labels

    path = tmp_path_factory.mktemp("data") / "tiny"
    return write_dataset(path, CLASSES, {"train": images(48, 1), "val": images(24, 2)}, name="tiny", source={})



def tiny(dataset: Path, *extra: str):
    from vit_tui import config as config_mod
    from vit_tui.config import RunConfig, apply_overrides

    return config_mod.validate(apply_overrides(RunConfig(preset="test"), [f"data.dataset={dataset}", *TINY, *extra]))


class DiskFills:
    """From the ``after``-th whole-file write of ``name`` on, its fsync fails with ENOSPC.

    The data has gone into the temp file by then, as with a file system that reports a full disk
    late (delayed allocation, network disks); the real clean-up in ``vit_tui.files`` has to run.
    """

    def __init__(self, monkeypatch, name: str, after: int) -> None:
        self.name, self.after, self.seen = name, after, 0
        self.real = os.fsync
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if Path(target).name.startswith(f".{self.name}."):
            self.seen += 1
            if self.seen >= self.after:
                raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd)


# file, which of its writes fails, whether summary.json can still say "failed"
DISK_FULL_SITES = [
    ("resume.pt", 2, True),  # the second epoch's resume point
    ("best.pt", 1, True),  # the first best epoch, right after its resume point
    ("metrics.csv", 2, True),
    ("summary.json", 3, False),
    ("last.pt", 1, True),
    ("evaluation.json", 1, True),
    ("curves.png", 1, True),
    ("confusion_matrix.png", 1, True),
    ("report.md", 1, True),
]


@pytest.mark.parametrize(("name", "after", "summary_ok"), DISK_FULL_SITES, ids=[s[0] for s in DISK_FULL_SITES])
def test_disk_full_while_training_fails_cleanly_and_resumes(dataset, tmp_path, monkeypatch, name, after, summary_ok):
    from vit_tui.engine.telemetry.events import null_sink
    from vit_tui.engine.train.trainer import train

    cfg = tiny(dataset)
    full = DiskFills(monkeypatch, name, after)
    with pytest.raises(WriteError) as caught:
        train(cfg, null_sink, runs_root=tmp_path, name="run")
    run = tmp_path / "run"
    message = str(caught.value)
    assert name in message and "disk is full" in message and "\n" not in message
    assert f"vit-tui train --resume {run}" in message
    assert temp_files(run) == []
    status = RunFolder(run).read_summary()["status"]
    assert status == "failed" if summary_ok else status in ("running", "failed")
    assert not (run / "report.md").exists() or name not in ("report.md",)

    monkeypatch.setattr(os, "fsync", full.real)  # space freed
    result = train(cfg, null_sink, resume=run)
    assert result.status == "finished" and RunFolder(run).read_summary()["status"] == "finished"
    assert [row["epoch"] for row in RunFolder(run).read_metrics()] == [1, 2]
    for done in ("report.md", "curves.png", "confusion_matrix.png", "weights/best.pt", "weights/last.pt"):
        assert (run / done).is_file(), done
    assert not (run / "weights/resume.pt").exists() and temp_files(run) == []
    best = torch_load(run / "weights/best.pt")
    assert best["epoch"] == RunFolder(run).read_summary()["best_epoch"]  # best.pt matches the run it belongs to


def torch_load(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def vit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vit_tui", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout, cwd=ROOT)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """The single stderr line of a command that refused its input with exit code 2."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    return lines[0]


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount_point`` (root only; the test is skipped elsewhere), unmounted afterwards."""
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 1.5 MB disk."""
    with mounted_tmpfs(tmp_path / "disk", "1536k") as mount_point:
        yield mount_point


def test_really_full_disk_is_one_line_and_resumes_once_space_is_freed(dataset, small_disk):

    run = small_disk / "run"
    sets = [arg for item in [*TINY, "model.embed_dim=64", "train.epochs=3"] for arg in ("--set", item)]
    done = vit("train", "--data", dataset, "--out", run, *sets)
    line = one_line_error(done)
    assert "disk is full" in line and str(run) in line and f"vit-tui train --resume {run}" in line
    assert temp_files(run) == [] and (run / "weights/resume.pt").is_file()
    assert RunFolder(run).read_summary().get("status") in ("failed", "running")

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = vit("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert RunFolder(run).read_summary()["status"] == "finished" and (run / "report.md").is_file()
    assert temp_files(run) == []


# --- unwritable output --------------------------------------------------------------------------


@pytest.fixture
def read_only(tmp_path):
    """A folder nobody can write into: a read-only tmpfs for root (who ignores modes), else mode 0o555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        yield folder
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def fake_run(path: Path) -> Path:
    from vit_tui import config as config_mod
    from vit_tui.config import RunConfig

    config_mod.save(RunConfig(), path / "config.toml")
    return path


UNWRITABLE = {
    "train --out in a read-only folder": (["train", "--data", "{data}", "--out", "{ro}/run"], "--out"),
    "train --out under a regular file": (["train", "--data", "{data}", "--out", "{file}/run"], "--out"),
    "train --home read-only": (["--home", "{ro}", "train", "--data", "{data}"], "--home"),
    "compare --out read-only": (["compare", "{tmp}/a", "{tmp}/b", "--out", "{ro}/cmp"], "--out"),
    "compare --out under a regular file": (["compare", "{tmp}/a", "{tmp}/b", "--out", "{file}/cmp"], "--out"),
    "data show --samples read-only": (["data", "show", "{data}", "--samples", "{ro}/s.png"], "--samples"),
    "data show --samples under a regular file": (["data", "show", "{data}", "--samples", "{file}/s.png"], "--samples"),
}


@pytest.mark.parametrize("case", list(UNWRITABLE))
def test_unwritable_output_is_one_line_before_any_work(dataset, tmp_path, read_only, case):
    args, option = UNWRITABLE[case]
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fake_run(tmp_path / "a"), fake_run(tmp_path / "b")
    places = {"data": dataset, "ro": read_only, "file": blocker, "tmp": tmp_path}
    done = vit(*(arg.format(**places) for arg in args))
    line = one_line_error(done)
    assert line.startswith(f"vit-tui: {option} ") and ("cannot write here" in line or "in the way" in line), line
    assert done.stdout == ""  # nothing loaded, trained or printed first
    assert blocker.read_text() == "not a folder" and os.listdir(read_only) == []


# --- damaged summary.json --------------------------------------------------------------------------

DAMAGED_SUMMARIES = {
    "null": ("null", "instead of an object"),
    "a list": ("[1, 2]", "instead of an object"),
    "a string timestamp": ('{"status": "finished", "started_ts": "2026-11-29 00:27"}', "started_ts"),
    "a text pid": ('{"status": "running", "pid": "1234"}', "pid"),
    "an unknown status": ('{"status": "paused"}', "status"),
    "truncated": ('{"status": "finished", "best_val', "not valid JSON"),
    "empty": ("", "is empty"),
}


def runs_with_one_damaged(runs_root: Path, content: str) -> Path:
    from tui_fixtures import make_fixed_run

    make_fixed_run(runs_root, "good")
    damaged = make_fixed_run(runs_root, "broken", status="interrupted", epochs=5, epochs_done=2, evaluated=False)
    (damaged / "weights").mkdir(exist_ok=True)
    (damaged / "weights" / "resume.pt").write_bytes(b"resume point")  # a resume would get past the folder checks
    (damaged / "summary.json").write_text(content, encoding="utf-8")
    return damaged


@pytest.mark.parametrize("case", list(DAMAGED_SUMMARIES))
def test_damaged_summary_is_listed_as_damaged_and_refused_by_attach_and_resume(tmp_path, capsys, case):
    from vit_tui.cli import main

    content, reason = DAMAGED_SUMMARIES[case]
    damaged = runs_with_one_damaged(tmp_path / "runs", content)

    assert main(["--home", str(tmp_path), "runs"]) == 0
    listing = " ".join(capsys.readouterr().out.split())  # rich may wrap the reason line
    assert "good" in listing and "finished" in listing
    assert "broken: damaged: summary.json" in listing and reason in listing

    for command in (["attach", str(damaged)], ["train", "--resume", str(damaged)]):
        assert main(["--home", str(tmp_path), *command]) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(damaged / "summary.json") in err and reason in err, err


def test_damaged_summary_commands_in_a_real_process(tmp_path):
    damaged = runs_with_one_damaged(tmp_path / "runs", '{"status": "fini')
    listing = vit("--home", tmp_path, "runs")
    assert listing.returncode == 0 and "damaged" in listing.stdout and "good" in listing.stdout, listing.stderr
    for command in (["attach", damaged], ["train", "--resume", damaged]):
        assert "not valid JSON" in one_line_error(vit("--home", tmp_path, *command))


async def test_runs_screen_shows_a_damaged_run_without_crashing(tmp_path, monkeypatch):
    from textual.widgets import DataTable
    from tui_fixtures import make_tiny_dataset, wait_until

    from vit_tui.tui.app import VitApp
    from vit_tui.tui.settings import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings"))
    make_tiny_dataset(tmp_path / "data")
    runs_with_one_damaged(tmp_path / "runs", "null")
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: app.screen.name == "runs" and len(app.screen.runs) == 2, 10)
        table = app.screen.query_one("#runs-table", DataTable)
        rows = {str(table.get_row_at(i)[1]): table.get_row_at(i) for i in range(table.row_count)}
        assert str(rows["broken"][2]) == "damaged" and str(rows["good"][2]) == "finished"
        note = str(app.screen.query_one("#runs-note").render())
        assert "broken: summary.json holds null instead of an object" in note
        table.move_cursor(row=[r.name for r in app.screen.runs].index("broken"))
        for key in ("a", "r"):  # attach and resume are refused with a notice
            await pilot.press(key)
            await pilot.pause()
        notices = [n.message for n in app._notifications]
        assert any("broken: summary.json holds null" in n for n in notices), notices
        failures = [s for s in app.screen_stack if type(s).__name__ == "FailureScreen"]
        assert not failures, [f"{f.title_text}: {f.message}" for f in failures]
        assert app.is_running and app.screen.name == "runs"


# --- damaged dataset cache -----------------------------------------------------------------------

DAMAGED_CACHES = {
    "zero bytes": b"",
    "cut inside the header": b"\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': Fal",
    "not a .npy file": b"PK\x03\x04 something else entirely",
}


@pytest.fixture
def own_dataset(dataset, tmp_path):
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(dataset, copy)
    return copy


@pytest.mark.parametrize("case", list(DAMAGED_CACHES))
def test_damaged_cache_is_rebuilt(own_dataset, case):
    import numpy as np

    from vit_tui.data.store import load_split_arrays

    cache = own_dataset / "cache" / "train.npy"
    good = np.load(cache)
    cache.write_bytes(DAMAGED_CACHES[case])
    done = vit("data", "show", own_dataset, "--no-samples")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert np.array_equal(np.load(cache), good)  # written back whole
    cache.write_bytes(DAMAGED_CACHES[case])
    assert np.array_equal(load_split_arrays(own_dataset, "train").images, good)


def test_training_on_a_zero_byte_cache_rebuilds_it(own_dataset, tmp_path):
    from vit_tui.engine.telemetry.events import null_sink
    from vit_tui.engine.train.trainer import train

    for split in ("train", "val"):
        (own_dataset / "cache" / f"{split}.npy").write_bytes(b"")
    result = train(tiny(own_dataset, "train.epochs=1"), null_sink, runs_root=tmp_path / "runs", name="run")
    assert result.status == "finished"
    assert all((own_dataset / "cache" / f"{split}.npy").stat().st_size > 0 for split in ("train", "val"))


# --- upper bounds ----------------------------------------------------------------------------------

TOO_BIG = {
    "demo images of 10000 pixels": (["data", "demo", "--out", "{tmp}/demo", "--size", "10000"], "--size"),
    "100000 blocks": (["model", "summary", "--set", "model.blocks=100000"], "model.blocks"),
    "a very wide model": (["model", "summary", "--preset", "fast", "--set", "model.embed_dim=120000"], "model.embed_dim"),
    "flattened feed-forward on many patches": (
        ["model", "summary", "--set", "model.patch_size=4", "--set", "model.image_size=256"],
        "model.embed_dim",
    ),
    "model images of 2048 pixels": (["model", "summary", "--set", "model.image_size=2048"], "model.image_size"),
    "a 20-digit seed": (
        ["train", "--data", "{data}", "--set", "train.seed=12345678901234567890", "--out", "{tmp}/run"],
        "train.seed",
    ),
    "100000 blocks to train": (["train", "--data", "{data}", "--set", "model.blocks=100000", "--out", "{tmp}/run"], "model.blocks"),
}


@pytest.mark.parametrize("case", list(TOO_BIG))
def test_absurd_sizes_are_refused_in_one_line_naming_the_field(dataset, tmp_path, capsys, case):
    from vit_tui.cli import main

    args, field = TOO_BIG[case]
    code = main([arg.format(tmp=tmp_path, data=dataset) for arg in args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"vit-tui: {field}: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing made


def test_a_huge_model_summary_answers_at_once_in_a_real_process():
    done = vit("model", "summary", "--set", "model.blocks=100000", timeout=30)
    assert "model.blocks" in one_line_error(done) and "parameters" in done.stderr


def test_largest_allowed_values_still_pass():
    from vit_tui.config import MAX_SEED, RunConfig, apply_overrides, validate

    big = [f"train.seed={MAX_SEED}", "model.image_size=1024", "model.patch_size=64", "model.attention=mha"]
    validate(apply_overrides(RunConfig(), [*big, "model.ffn=mlp"]))


@pytest.mark.parametrize("preset_name", ["reference", "reference-einsum", "fast", "accurate"])
@pytest.mark.parametrize("variant", ["as is", "mean pool", "patch stem", "mlp 1.3", "flattened"])
def test_parameter_estimate_equals_the_built_model(preset_name, variant):
    from dataclasses import replace

    from vit_tui.model.size_estimate import estimate_parameters
    from vit_tui.model.summary import summarize
    from vit_tui.presets import preset

    m = replace(preset(preset_name).model, image_size=32, embed_dim=24, heads=3, blocks=2)
    standard = m.attention == "mha"
    changes = {
        "as is": {},
        "mean pool": {"pool": "mean"} if standard else {},
        "patch stem": {"stem": "patch"},
        "mlp 1.3": {"ffn": "mlp", "mlp_ratio": 1.3},
        "flattened": {"ffn": "flattened"},
    }[variant]
    m = replace(m, **changes)
    assert estimate_parameters(m, 7) == summarize(m, 7).params
