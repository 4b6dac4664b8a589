"""Fault suite for output paths and the commands that write them: export, predict, compare, data, serve.

Each case names what the user typed and checks what they see (one line, the exit code) and what
is left on disk: a device node, a FIFO, a run's own files, another program's folder or a previous
export stay exactly as they were. Device nodes, FIFOs and links are made under ``tmp_path`` (the
suite runs as root, where writing over a real device node would succeed).

One tiny run is trained per module; cases that could damage it work on a copy.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from PIL import Image
from test_faults_files import DiskFills, mounted_tmpfs, temp_files
from tui_fixtures import make_tiny_dataset, tiny_config

from vit_tui import files
from vit_tui.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:FutureWarning")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A home folder with the dataset ``data/tiny`` and one run ``runs/run`` trained one epoch on it."""
    from vit_tui.engine.train.trainer import train

    home = tmp_path_factory.mktemp("home")
    dataset = make_tiny_dataset(home / "data")
    result = train(tiny_config(str(dataset)), runs_root=home / "runs", name="run")
    assert result.status == "finished"
    return home


@pytest.fixture
def run_copy(home, tmp_path) -> Path:
    """A copy of the module's run that a case may damage."""
    return Path(shutil.copytree(home / "runs" / "run", tmp_path / "runs" / "run"))


def vit(home: Path, *args: str | Path) -> int:
    return main(["--home", str(home), *map(str, args)])


def one_line(capsys) -> str:
    """The single stderr line a command printed."""
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def picture(path: Path, colour: tuple[int, int, int] = (200, 60, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 36, 3), colour, np.uint8)).save(path)
    return path


# --- 1: devices, FIFOs and links to them are never written over -------------------------------


def make_node(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """The path to give the command and the node it leads to: a char device (as /dev/null is), a FIFO, or a
    link to a char device."""
    node = tmp_path / ("fifo" if kind == "fifo" else "device")
    if kind == "fifo":
        os.mkfifo(node)
    else:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    if kind != "link":
        return node, node
    link = tmp_path / "link-to-device"
    link.symlink_to(node)
    return link, node


NODE_KINDS = {"device": stat.S_ISCHR, "fifo": stat.S_ISFIFO, "link": stat.S_ISCHR}
NODE_WORDS = {"device": "a device", "fifo": "a FIFO", "link": "a device"}

NODE_CASES = {
    "export --out a device": (["export", "{run}", "--format", "torchscript", "--out", "{node}"], "device", "--out"),
    "export --out a FIFO": (["export", "{run}", "--format", "torchscript", "--out", "{node}"], "fifo", "--out"),
    "export --out a link to a device": (
        ["export", "{run}", "--format", "torchscript", "--out", "{node}"],
        "link",
        "--out",
    ),
    "predict --csv a FIFO": (["predict", "{run}", "{image}", "--csv", "{node}"], "fifo", "--csv"),
    "predict --csv a device": (["predict", "{run}", "{image}", "--csv", "{node}"], "device", "--csv"),
    "predict --csv a link to a device": (["predict", "{run}", "{image}", "--csv", "{node}"], "link", "--csv"),
    "data show --samples a FIFO": (["data", "show", "{data}", "--samples", "{node}"], "fifo", "--samples"),
    "compare --out a device": (["compare", "{run}", "{run2}", "--out", "{node}", "--force"], "device", "--out"),
}


@pytest.mark.parametrize("case", list(NODE_CASES))
def test_a_device_fifo_or_link_to_one_is_refused_and_kept(home, tmp_path, capsys, case):
    args, kind, option = NODE_CASES[case]
    given, node = make_node(tmp_path, kind)
    places = {
        "run": home / "runs" / "run",
        "run2": shutil.copytree(home / "runs" / "run", tmp_path / "run2"),
        "image": picture(tmp_path / "photo.png"),
        "data": home / "data" / "tiny",
        "node": given,
    }
    code = vit(home, *(arg.format(**places) for arg in args))
    line = one_line(capsys)
    assert code == 2 and line.startswith(f"vit-tui: {option} {given}: is {NODE_WORDS[kind]}"), line
    assert NODE_KINDS[kind](os.stat(node).st_mode), "the node was replaced"
    assert given.is_symlink() == (kind == "link")
    assert not os.path.lexists(f"{given}.json") and not os.path.lexists(f"{node}.json")


def test_compare_out_a_regular_file_is_refused_and_kept(home, tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("the user's notes")
    run2 = shutil.copytree(home / "runs" / "run", tmp_path / "run2")
    code = vit(home, "compare", home / "runs" / "run", run2, "--out", out, "--force")
    line = one_line(capsys)
    assert code == 2 and line.startswith(f"vit-tui: --out {out}: is a file, not a folder"), line
    assert out.read_text() == "the user's notes"


# --- 6: a run's own files are never an export's output ----------------------------------------

RUN_OWN_FILES = ["weights/best.pt", "weights/last.pt", "summary.json", "config.toml", "metrics.csv"]


@pytest.mark.parametrize("name", RUN_OWN_FILES)
def test_export_over_a_file_of_the_run_is_refused_and_the_run_still_evaluates(home, run_copy, capsys, name):
    before = snapshot(run_copy)
    code = vit(home, "export", run_copy, "--format", "torchscript", "--out", run_copy / name)
    line = one_line(capsys)
    assert code == 2 and f"--out {run_copy / name}: belongs to run run" in line, line
    assert snapshot(run_copy) == before
    assert vit(home, "eval", run_copy, "--device", "cpu") == 0, capsys.readouterr().err
    assert "accuracy" in capsys.readouterr().out


# --- 19: a refused export leaves no export folder ---------------------------------------------


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


REFUSED_EXPORTS = {
    "no weights folder": ("weights", _remove, [], "checkpoint not found"),
    "truncated best.pt": ("weights/best.pt", _truncate, [], "cannot read checkpoint"),
    "zero-byte best.pt": ("weights/best.pt", lambda p: p.write_bytes(b""), [], "cannot read checkpoint"),
    "garbage best.pt": ("weights/best.pt", lambda p: p.write_bytes(b"\x00garbage" * 100), [], "cannot read checkpoint"),
    "no last.pt with --checkpoint last": ("weights/last.pt", _remove, ["--checkpoint", "last"], "checkpoint not found"),
}


@pytest.mark.parametrize("case", list(REFUSED_EXPORTS))
def test_a_refused_export_leaves_no_export_folder(home, run_copy, capsys, case):
    target, damage, extra, words = REFUSED_EXPORTS[case]
    damage(run_copy / target)
    code = vit(home, "export", run_copy, "--format", "torchscript", *extra)
    line = one_line(capsys)
    assert code == 2 and words in line, line
    assert not (run_copy / "export").exists()


# --- 5 and 20: full disks -----------------------------------------------------------------------


def test_disk_full_at_the_sidecar_keeps_the_previous_export_pair(home, tmp_path, capsys, monkeypatch):
    model, sidecar = tmp_path / "m.pt", tmp_path / "m.pt.json"
    model.write_bytes(b"the previous model")
    sidecar.write_text('{"the previous": "sidecar"}')
    DiskFills(monkeypatch, "m.pt.json", 1)
    code = vit(home, "export", home / "runs" / "run", "--format", "torchscript", "--out", model)
    line = one_line(capsys)
    assert code == 2 and "disk is full" in line, line
    assert model.read_bytes() == b"the previous model"
    assert sidecar.read_text() == '{"the previous": "sidecar"}'
    assert temp_files(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]


class FreeSpaceSeen:
    """Records, at each free-space measurement, the temp files still in the measured folder."""

    def __init__(self, monkeypatch) -> None:
        self.real, self.seen = shutil.disk_usage, []
        monkeypatch.setattr(files.shutil, "disk_usage", self)

    def __call__(self, folder):
        self.seen.append(temp_files(Path(folder)))
        return self.real(folder)


def _export_cli(home: Path, target: Path) -> None:
    code = vit(home, "export", home / "runs" / "run", "--format", "torchscript", "--out", target)
    assert code == 2


FULL_DISK_WRITES = {
    "write_with": ("one.bin", lambda home, target: files.write_bytes(target, b"x" * 4096)),
    "write_together, the second file": (
        "two.bin",
        lambda home, target: files.write_together({target.with_name("one.bin"): b"1" * 4096, target: b"2" * 4096}),
    ),
    "export, the model file": ("m.pt", _export_cli),
}


@pytest.mark.parametrize("case", list(FULL_DISK_WRITES))
def test_disk_full_measures_free_space_after_removing_the_temp_file(home, tmp_path, monkeypatch, capsys, case):
    name, write = FULL_DISK_WRITES[case]
    folder = tmp_path / "out"
    folder.mkdir()
    DiskFills(monkeypatch, name, 1)
    measured = FreeSpaceSeen(monkeypatch)
    try:
        write(home, folder / name)
    except files.WriteError as exc:
        assert "disk is full" in str(exc)
    else:
        assert "disk is full" in capsys.readouterr().err
    assert measured.seen and all(seen == [] for seen in measured.seen), measured.seen
    assert temp_files(folder) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB disk."""
    with mounted_tmpfs(tmp_path / "disk", "1m") as mount_point:
        yield mount_point


def test_a_really_full_disk_quotes_the_space_that_is_really_free(tiny_disk):
    with pytest.raises(files.WriteError) as caught:
        files.write_bytes(tiny_disk / "big.bin", b"x" * 3 * 1024 * 1024)
    free = re.search(r"needed, ([\d.]+) (bytes|KB|MB) free\)", str(caught.value))
    assert free, str(caught.value)
    free_bytes = float(free.group(1)) * {"bytes": 1, "KB": 1024, "MB": 1024 * 1024}[free.group(2)]
    assert free_bytes > 0.9 * shutil.disk_usage(tiny_disk).free and shutil.disk_usage(tiny_disk).free > 512 * 1024
    assert os.listdir(tiny_disk) == []


# --- 2 and --force: only what vit-tui made is replaced -----------------------------------------


def test_data_demo_force_keeps_a_folder_with_another_programs_manifest(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"app": "some photo manager", "albums": 3}')
    (folder / "holiday.jpg").write_bytes(b"the user's picture")
    before = snapshot(folder)
    code = vit(tmp_path, "data", "demo", "--out", folder, "--force")
    line = one_line(capsys)
    assert code == 2 and "not a vit-tui dataset" in line, line
    assert snapshot(folder) == before


def test_compare_force_replaces_only_a_folder_vit_tui_made(home, tmp_path, capsys):
    run2 = shutil.copytree(home / "runs" / "run", tmp_path / "run2")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("the user's notes")
    code = vit(home, "compare", home / "runs" / "run", run2, "--out", theirs, "--force")
    line = one_line(capsys)
    assert code == 2 and "is not a compare folder vit-tui made" in line, line
    assert snapshot(theirs) == {"notes.txt": b"the user's notes"}

    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / ".vit-tui").write_text("vit-tui compare\n")
    (ours / "comparison.md").write_text("an old comparison")
    assert vit(home, "compare", home / "runs" / "run", run2, "--out", ours, "--force") == 0, capsys.readouterr().err
    assert "run2" in (ours / "comparison.md").read_text()


# --- 15: predict on a folder skips the unreadable files and names them -------------------------


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for i, colour in enumerate([(230, 80, 60), (60, 200, 90), (70, 110, 230)]):
        picture(folder / f"good{i}.png", colour)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg " * 10)
    (folder / "deeper").mkdir()
    (folder / "deeper" / "empty.png").write_bytes(b"")
    return folder


def test_predict_on_a_folder_skips_and_names_the_unreadable_images(home, photos, tmp_path, capsys):
    csv = tmp_path / "predictions.csv"
    code = vit(home, "predict", home / "runs" / "run", photos, "--csv", csv, "--device", "cpu")
    out, err = capsys.readouterr()
    assert code == 0, err
    warning = err.strip().splitlines()
    assert len(warning) == 1 and "2 unreadable image(s) skipped" in warning[0], err
    assert str(photos / "broken.jpg") in warning[0] and str(photos / "deeper" / "empty.png") in warning[0]
    assert sorted(line.split(":")[0] for line in out.splitlines() if "good" in line) == [
        str(photos / f"good{i}.png") for i in range(3)
    ]
    rows = csv.read_text().splitlines()
    assert len(rows) == 4 and not any("broken" in row or "empty" in row for row in rows)


@pytest.mark.parametrize(
    ("case", "named"),
    [("a named unreadable file", ["photos/broken.jpg"]), ("a folder with a named unreadable file", ["photos", "photos/broken.jpg"])],
    ids=["named file", "named file and its folder"],
)
def test_predict_on_a_named_unreadable_file_is_an_error_naming_it(home, photos, tmp_path, capsys, case, named):
    code = vit(home, "predict", home / "runs" / "run", *(tmp_path / n for n in named), "--csv", tmp_path / "p.csv")
    line = one_line(capsys)
    assert code == 2 and line.startswith(f"vit-tui: {photos / 'broken.jpg'}: cannot read this image"), line
    assert not (tmp_path / "p.csv").exists()


def test_predict_on_a_folder_with_no_readable_image_is_an_error(home, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"garbage")
    (folder / "b.png").write_bytes(b"")
    code = vit(home, "predict", home / "runs" / "run", folder)
    line = one_line(capsys)
    assert code == 2 and "none of the 2 image file(s) found can be read" in line and "a.jpg" in line, line


# --- 16: Ctrl+C inside the exporter is an interrupt, not an export failure ---------------------


def _interrupted_inside_torch_export(*args, **kwargs):
    raise KeyboardInterrupt


def _exporter_error_from_an_interrupt(*args, **kwargs):
    # What the exporters do with an interrupt met deep inside tracing: their own error type, raised from it.
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as exc:
        raise RuntimeError("\x1b[31mcapture failed\x1b[0m") from exc


INTERRUPTS = {
    "onnx: Ctrl+C in torch.export": ("onnx", "torch.export.export", _interrupted_inside_torch_export),
    "onnx: the exporter's error from a Ctrl+C": ("onnx", "torch.export.export", _exporter_error_from_an_interrupt),
    "torchscript: an error from a Ctrl+C": ("torchscript", "torch.jit.trace", _exporter_error_from_an_interrupt),
}


@pytest.mark.parametrize("case", list(INTERRUPTS))
def test_ctrl_c_inside_the_exporter_says_interrupted_exit_130(home, tmp_path, capsys, monkeypatch, case):
    import torch

    fmt, where, replacement = INTERRUPTS[case]
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    owner, name = where.rsplit(".", 1)
    monkeypatch.setattr(eval(owner, {"torch": torch}), name, replacement)
    code = vit(home, "export", home / "runs" / "run", "--format", fmt, "--out", tmp_path / "m")
    assert (code, one_line(capsys)) == (130, "vit-tui: interrupted")
    assert os.listdir(tmp_path) == []


def test_an_exporter_message_is_shown_without_colour_codes(home, tmp_path, capsys, monkeypatch):
    import torch

    def coloured_failure(*args, **kwargs):
        raise RuntimeError("\x1b[1m\x1b[31mUnsupported operator\x1b[0m in the graph")

    monkeypatch.setattr(torch.jit, "trace", coloured_failure)
    code = vit(home, "export", home / "runs" / "run", "--format", "torchscript", "--out", tmp_path / "m.pt")
    line = one_line(capsys)
    assert code == 2 and "RuntimeError: Unsupported operator in the graph" in line and "\x1b" not in line, line


# --- 17: the sidecar promises batches of one or more -------------------------------------------


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_the_sidecar_states_the_smallest_batch(home, tmp_path, capsys, fmt):
    import json

    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    out = tmp_path / f"m.{fmt}"
    assert vit(home, "export", home / "runs" / "run", "--format", fmt, "--out", out) == 0, capsys.readouterr().err
    batch = json.loads(Path(f"{out}.json").read_text())["input"]["batch"]
    assert batch["min"] == 1 and "0 images" in batch["note"]


# --- 13 and 25: serve --------------------------------------------------------------------------

EXPOSURES = [
    ("0.0.0.0", ["0.0.0.0"], True),
    ("::", ["::"], True),
    ("a LAN address", ["192.168.1.20"], True),
    ("a name resolving to loopback and beyond", ["127.0.0.1", "10.0.0.5"], True),
    ("127.0.0.1", ["127.0.0.1"], False),
    ("::1", ["::1"], False),
    ("localhost", ["127.0.0.1", "::1"], False),
    ("an IPv4-mapped loopback", ["::ffff:127.0.0.1"], False),
]


@pytest.mark.parametrize(("host", "addresses", "warned"), EXPOSURES, ids=[e[0] for e in EXPOSURES])
def test_serve_warns_when_it_listens_beyond_this_machine(host, addresses, warned):
    from vit_tui.commands.serve import exposure_warning

    warning = exposure_warning(host, 8000, addresses)
    assert (warning is not None) == warned
    if warned:
        assert "\n" not in warning and "whoever reaches the port drives the app" in warning
        assert "read and write files" in warning and f"{host}:8000" in warning


class ServerThatReturns:
    """Stands in for textual-serve's server: the start-up checks and messages are what is tested."""

    started: list[dict] = []

    def __init__(self, command: str, **options) -> None:
        self.options = options

    def serve(self) -> None:
        ServerThatReturns.started.append(self.options)


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_serve_prints_the_warning_at_start(tmp_path, capsys, monkeypatch, host, warned):
    from vit_tui.commands import serve

    monkeypatch.setattr(serve, "_server_class", lambda: ServerThatReturns)
    ServerThatReturns.started.clear()
    assert vit(tmp_path, "serve", "--host", host, "--port", _free_port()) == 0
    err = capsys.readouterr().err.strip()
    assert ("whoever reaches the port drives the app" in err) == warned, err
    assert len(err.splitlines()) == (1 if warned else 0) and ServerThatReturns.started


BAD_URLS = ["not a url", "ftp://box.example.org/", "http://", "https:///vit", "http://box:port/", "box.example.org", ""]


@pytest.mark.parametrize("url", BAD_URLS)
def test_serve_refuses_a_public_url_that_is_not_an_http_url_with_a_host(tmp_path, capsys, monkeypatch, url):
    from vit_tui.commands import serve

    monkeypatch.setattr(serve, "_server_class", lambda: ServerThatReturns)  # should the URL pass, no real server
    ServerThatReturns.started.clear()
    code = vit(tmp_path, "serve", "--port", _free_port(), "--public-url", url)
    line = one_line(capsys)
    assert code == 2 and line.startswith("vit-tui: --public-url: ") and "http(s) URL with a host" in line, line
    assert not ServerThatReturns.started


@pytest.mark.parametrize("url", ["https://box.example.org/vit", "http://127.0.0.1:8000", "HTTP://[::1]:9000/"])
def test_serve_takes_a_public_url_with_a_host(tmp_path, capsys, monkeypatch, url):
    from vit_tui.commands import serve

    monkeypatch.setattr(serve, "_server_class", lambda: ServerThatReturns)
    ServerThatReturns.started.clear()
    assert vit(tmp_path, "serve", "--port", _free_port(), "--public-url", url) == 0, capsys.readouterr().err
    assert ServerThatReturns.started[-1]["public_url"] == url
