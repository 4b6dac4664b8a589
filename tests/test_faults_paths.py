"""Where the program may write (vit_tui.outputs) and files written as one pair (files.write_together).

Every special file is made under tmp_path: the tests run as root, and a wrong answer would
replace it.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

import pytest

from vit_tui import files
from vit_tui.errors import UserError
from vit_tui.outputs import MARKER, claim_folder, marker_kind, output_file, output_folder, owner_of


def char_device(path: Path) -> Path:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def unix_socket(path: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()
    return path


def run_folder(root: Path, name: str = "r1") -> Path:
    run = root / name
    (run / "weights").mkdir(parents=True)
    for name in ("config.toml", "summary.json", "metrics.csv", "events.jsonl"):
        (run / name).write_text("x")
    (run / "weights" / "best.pt").write_bytes(b"weights")
    return run


def dataset_folder(root: Path) -> Path:
    data = root / "data"
    (data / "train").mkdir(parents=True)
    (data / "cache").mkdir()
    (data / "manifest.json").write_text("{}")
    (data / "train" / "a_0.jpg").write_bytes(b"jpeg")
    (data / "cache" / "train.npy").write_bytes(b"npy")
    return data


SPECIAL_FILES = {"device": char_device, "fifo": fifo, "socket": unix_socket}


@pytest.mark.parametrize("kind", SPECIAL_FILES)
def test_a_special_file_or_a_link_to_one_is_refused_and_left_as_it_was(tmp_path, kind):
    node = SPECIAL_FILES[kind](tmp_path / kind)
    link = tmp_path / "link"
    link.symlink_to(node)
    before = os.lstat(node).st_mode
    for path in (node, link):
        with pytest.raises(UserError) as caught:
            output_file(path, "--csv")
        assert f"--csv {path}" in str(caught.value) and "regular file" in str(caught.value)
    assert os.lstat(node).st_mode == before and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kind, "link"])


def test_a_dangling_link_and_a_folder_are_refused(tmp_path):
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UserError, match="link to nothing"):
        output_file(dangling, "--out")
    with pytest.raises(UserError, match="is a folder; name a file, e.g. model.pt"):
        output_file(tmp_path, "--out", example="model.pt")


def test_a_new_path_or_a_regular_file_is_accepted_and_a_link_is_followed(tmp_path):
    assert output_file(tmp_path / "new" / "deeper" / "p.csv", "--csv") == tmp_path / "new" / "deeper" / "p.csv"
    assert not (tmp_path / "new").exists()  # checking makes nothing
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    assert output_file(real, "--csv") == real
    assert output_file(link, "--csv") == real  # the file it names is written; the link stays


@pytest.mark.parametrize(
    "relative, owner",
    [
        ("r1/weights/best.pt", "run r1 (its weights)"),
        ("r1/weights/new.pt", "run r1 (its weights)"),
        ("r1/summary.json", "run r1 (its summary.json)"),
        ("r1/config.toml", "run r1 (its config.toml)"),
        ("r1/events.jsonl", "run r1 (its events.jsonl)"),
        ("r1/metrics.csv", "run r1 (its metrics.csv)"),
        ("r1/train.log", "run r1 (its train.log)"),
        ("r1/study.json", "run r1 (its study.json)"),
        ("data/manifest.json", "dataset data (its manifest.json)"),
        ("data/cache/train.npy", "dataset data (its cache files)"),
        ("data/train/a_0.jpg", "dataset data (its train files)"),
    ],
)
def test_a_run_or_dataset_file_is_refused_by_name(tmp_path, relative, owner):
    run_folder(tmp_path)
    dataset_folder(tmp_path)
    target = tmp_path / relative
    before = target.read_bytes() if target.exists() else None
    assert owner_of(target) == owner
    with pytest.raises(UserError, match=f"belongs to {owner.replace('(', '.').replace(')', '.')}"):
        output_file(target, "--out")
    assert (target.read_bytes() if target.exists() else None) == before


def test_files_beside_a_run_or_dataset_are_not_theirs(tmp_path):
    run = run_folder(tmp_path)
    data = dataset_folder(tmp_path)
    for path in (run / "predictions.csv", run / "export" / "model.pt", data / "samples.png", tmp_path / "x.pt"):
        assert owner_of(path) is None
        assert output_file(path, "--out") == path


def test_an_unwritable_place_is_one_line_and_nothing_is_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError) as caught:
        output_file(blocker / "sub" / "p.csv", "--csv")
    assert "--csv" in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_output_folders_new_empty_or_made_by_vit_tui(tmp_path):
    assert output_folder(tmp_path / "new", "--out", kind="compare") == tmp_path / "new"
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    assert output_folder(tmp_path / "empty", "--out", kind="compare") == tmp_path / "empty"

    users = tmp_path / "users"
    users.mkdir()
    (users / "thesis.tex").write_text("mine")
    for force in (False, True):
        with pytest.raises(UserError, match="is not a compare folder vit-tui made"):
            output_folder(users, "--out", kind="compare", force=force)
    assert (users / "thesis.tex").read_text() == "mine"

    ours = claim_folder(tmp_path / "ours", "compare")
    (ours / "comparison.md").write_text("old")
    assert marker_kind(ours) == "compare" and (ours / MARKER).is_file()
    with pytest.raises(UserError, match="already exists; pass --force to replace it"):
        output_folder(ours, "--out", kind="compare")
    assert output_folder(ours, "--out", kind="compare", force=True) == ours
    assert output_folder(ours, "--out", kind="compare", reuse=True) == ours
    for force in (False, True):
        with pytest.raises(UserError, match="is not a sweep folder vit-tui made"):
            output_folder(ours, "--out", kind="sweep", force=force, reuse=True)  # nor replaced, nor continued


def test_output_folders_refuse_files_nodes_runs_and_datasets(tmp_path):
    (tmp_path / "file").write_text("x")
    fifo(tmp_path / "pipe")
    run = run_folder(tmp_path)
    data = dataset_folder(tmp_path)
    cases = {
        tmp_path / "file": "is a file, not a folder",
        tmp_path / "pipe": "is a FIFO",
        run: "is a run",
        data: "is a dataset",
    }
    for path, why in cases.items():
        with pytest.raises(UserError, match=why):
            output_folder(path, "--out", kind="compare", force=True)
    assert (tmp_path / "file").read_text() == "x" and stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)


def test_a_marker_from_someone_else_does_not_count(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / MARKER).write_text("another-tool compare\n")
    assert marker_kind(folder) is None
    (folder / MARKER).write_bytes(b"vit-tui " + b"x" * 1000)
    assert marker_kind(folder) is None


# --- files written as one pair -----------------------------------------------------------------


def old_pair(folder: Path) -> tuple[Path, Path]:
    model, sidecar = folder / "m.pt", folder / "m.pt.json"
    model.write_bytes(b"old model")
    sidecar.write_text("old sidecar")
    return model, sidecar


def test_a_pair_replaces_both_files(tmp_path):
    a, b = old_pair(tmp_path)
    files.write_together({a: b"new model", b: b"new sidecar"})
    assert (a.read_bytes(), b.read_bytes()) == (b"new model", b"new sidecar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]


def test_a_full_disk_while_writing_the_second_file_keeps_the_old_pair(tmp_path, monkeypatch):
    a, b = old_pair(tmp_path)
    real_fsync = os.fsync
    seen = []

    def fsync(fd):
        seen.append(fd)
        if len(seen) == 2:  # the sidecar's temp file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    with pytest.raises(files.WriteError, match="m.pt.json: the disk is full"):
        files.write_together({a: b"new model", b: b"new sidecar"})
    assert (a.read_bytes(), b.read_bytes()) == (b"old model", b"old sidecar")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]


def test_a_failed_rename_puts_the_first_file_back(tmp_path, monkeypatch):
    a, b = tmp_path / "m.pt", tmp_path / "m.pt.json"
    a.write_bytes(b"old model")
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if Path(dst) == b:
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(files.WriteError, match="m.pt.json"):
        files.write_together({a: b"new model", b: b"new sidecar"})
    assert a.read_bytes() == b"old model" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_full_disk_message_measures_space_after_the_temp_file_is_gone(tmp_path, monkeypatch):
    target = tmp_path / "big.bin"
    measured = []

    def disk_usage(folder):
        measured.append(sorted(p.name for p in Path(folder).iterdir()))
        return type("Usage", (), {"free": 123})()

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.shutil, "disk_usage", disk_usage)
    with pytest.raises(files.WriteError, match=r"100 bytes needed, 123 bytes free"):
        files.write_bytes(target, b"x" * 100)
    assert measured == [[]]  # no temp file was there when the free space was read


# --- folders built beside their place ----------------------------------------------------------


def test_a_staged_folder_replaces_the_old_one_whole_only_when_filled(tmp_path):
    out = claim_folder(tmp_path / "cmp", "compare")
    (out / "comparison.md").write_text("old")
    (out / "stale.png").write_text("old")
    with pytest.raises(RuntimeError), files.staged_folder(out) as stage:
        (stage / "comparison.md").write_text("half")
        raise RuntimeError("plotting failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]
    assert (out / "comparison.md").read_text() == "old"
    with files.staged_folder(out) as stage:
        (stage / "comparison.md").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["comparison.md"]
    assert (out / "comparison.md").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["cmp"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~files.UMASK


def test_a_comparison_failing_midway_leaves_no_out_folder(tmp_path, monkeypatch):
    from vit_tui.engine.report import compare as export

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "compare_runs", fail)
    with pytest.raises(OSError):
        export.write_comparison([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp")
    assert list(tmp_path.iterdir()) == []
