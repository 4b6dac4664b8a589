"""``vit-tui data ...`` end to end: happy paths, and every kind of bad input (one line, exit 2)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from data_fixtures import COCO128, corrupt_file, make_tiny_coco, tree_entries
from PIL import Image

from vit_tui.cli import main
from vit_tui.data.store import read_manifest

SMALL = ["--per-class", "3", "--train-per-class", "2", "--size", "16"]


@pytest.fixture
def tiny(tmp_path):
    return make_tiny_coco(tmp_path / "coco")


def _fails(capsys, argv: list[str], *expected: str) -> str:
    """Run the CLI, expect exit 2 and exactly one ``vit-tui: ...`` line on stderr holding ``expected``."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vit-tui: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _build(tiny, out: Path, *extra: str) -> list[str]:
    return [
        "data",
        "build",
        "--coco-ann",
        str(tiny.ann_file),
        "--coco-images",
        str(tiny.images_dir),
        "--out",
        str(out),
        *extra,
    ]


def _no_partial(folder: Path) -> bool:
    return not [name for name in tree_entries(folder) if name.startswith(".")]


# --- happy paths -------------------------------------------------------------------------------


def test_build_prints_counts_and_reports_shared_images(tiny, tmp_path, capsys):
    assert main(_build(tiny, tmp_path / "out", "--classes", "cat,dog", *SMALL)) == 0
    out = capsys.readouterr().out
    assert "cat" in out and "dog" in out and "images/s" in out
    assert "appear under two or more classes" in out and "--exclusive" in out
    assert read_manifest(tmp_path / "out").counts["val"] == {"cat": 1, "dog": 1}


def test_build_default_out_lives_under_home_and_coco_root_is_found(tiny, tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "data", "build", "--coco", str(tiny.ann_file.parents[1]), *SMALL]) == 0
    manifest = read_manifest(home / "data" / "coco5")
    assert manifest.classes == ["airplane", "bus", "cat", "dog", "pizza"] and manifest.seed == 5
    assert "wrote" in capsys.readouterr().out


def test_image_folder_is_guessed_from_the_annotation_file_name(tiny, tmp_path):
    argv = ["data", "build", "--coco-ann", str(tiny.ann_file), "--classes", "cat,dog", *SMALL]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0  # annotations/instances_train2017.json -> train2017/
    assert read_manifest(tmp_path / "out").source["images"] == str(tiny.images_dir)


def test_corrupt_images_are_skipped_and_the_build_goes_on(tiny, tmp_path, capsys):
    corrupt_file(tiny.images_dir / tiny.images_of["bus"][0])
    argv = _build(tiny, tmp_path / "ok", "--classes", "airplane,bus", "--per-class", "5", "--train-per-class", "4")
    _fails(capsys, [*argv, "--size", "16"], "1 unreadable", "bus 4 (train", "--allow-fewer")
    assert main([*argv, "--size", "16", "--allow-fewer"]) == 0
    out = capsys.readouterr().out
    assert "1 unreadable image(s) skipped" in out and "bus has 4 of the 5 images asked" in out
    manifest = read_manifest(tmp_path / "ok")
    assert manifest.counts["train"]["airplane"] + manifest.counts["val"]["airplane"] == 5
    assert manifest.counts["train"]["bus"] + manifest.counts["val"]["bus"] == 4
    assert manifest.report["unreadable"] == [tiny.images_of["bus"][0]]


def test_a_class_with_no_readable_image_is_an_error(tiny, tmp_path, capsys):
    for name in tiny.images_of["bus"]:
        corrupt_file(tiny.images_dir / name)
    argv = _build(tiny, tmp_path / "out", "--classes", "airplane,bus", "--per-class", "5", "--train-per-class", "4")
    _fails(capsys, argv, "bus 0 (train 0, val 0)", "--allow-fewer")
    _fails(capsys, [*argv, "--allow-fewer"], "'bus' has no train and no val image")
    assert not (tmp_path / "out").exists() and _no_partial(tmp_path)


def test_import_demo_show_and_classes(tmp_path, capsys):
    home = tmp_path / "home"
    assert main(["--home", str(home), "data", "demo", "--per-class-train", "6", "--per-class-val", "2"]) == 0
    assert read_manifest(home / "data" / "demo").total("train") == 30
    src = tmp_path / "pics"
    for name, colour in (("cat", "red"), ("dog", "blue")):
        (src / name).mkdir(parents=True)
        for k in range(3):
            Image.new("RGB", (20, 10), colour).save(src / name / f"{k}.png")
    assert main(["--home", str(home), "data", "import", str(src), "--size", "16"]) == 0
    assert read_manifest(home / "data" / "pics").classes == ["cat", "dog"]
    capsys.readouterr()
    assert main(["--home", str(home), "data", "show", "demo", "--per-class", "4"]) == 0
    out = capsys.readouterr().out
    assert "circle" in out and "stripes" in out and "samples.png" in out
    with Image.open(home / "data" / "demo" / "samples.png") as png:
        assert png.format == "PNG" and png.size[0] > 300 and png.size[1] > 400
    assert main(["--home", str(home), "data", "show", str(home / "data" / "pics"), "--no-samples"]) == 0
    assert not (home / "data" / "pics" / "samples.png").exists()


def test_classes_lists_every_category(tiny, capsys):
    assert main(["data", "classes", "--coco-ann", str(tiny.ann_file), "--sort", "count"]) == 0
    out = capsys.readouterr().out
    assert "7 categories" in out and "traffic light" in out and "person" in out


@pytest.mark.skipif(not COCO128.is_dir(), reason="shared/data/coco128 is not here")
def test_classes_on_coco128(capsys):
    assert main(["data", "classes", "--coco", str(COCO128)]) == 0
    out = capsys.readouterr().out
    assert "80 categories" in out and "toothbrush" in out


# --- bad input ---------------------------------------------------------------------------------


def test_missing_and_wrong_kind_of_paths(tiny, tmp_path, capsys):
    _fails(
        capsys, _build(tiny, tmp_path / "o") + ["--coco-ann", str(tmp_path / "nope.json")], "nope.json", "no such file"
    )
    _fails(
        capsys,
        [
            "data",
            "build",
            "--coco-ann",
            str(tmp_path),
            "--coco-images",
            str(tiny.images_dir),
            "--out",
            str(tmp_path / "o"),
        ],
        "is a folder",
    )
    _fails(capsys, _build(tiny, tmp_path / "o") + ["--coco-images", str(tmp_path / "nodir")], "no such image folder")
    _fails(capsys, ["data", "build", "--coco", str(tmp_path / "nowhere")], "no such folder")
    _fails(capsys, ["data", "build", "--coco", str(tmp_path)], "no COCO layout found")
    _fails(capsys, ["data", "build"], "--coco-ann")
    _fails(capsys, ["data", "import", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")], "no such folder")
    _fails(capsys, ["data", "import", str(tiny.ann_file), "--out", str(tmp_path / "o")], "is not a folder")
    _fails(capsys, ["data", "show", str(tmp_path)], "not a vit-tui dataset")
    assert not (tmp_path / "o").exists() and _no_partial(tmp_path)


def test_unreadable_annotation_file(tiny, tmp_path):
    tiny.ann_file.chmod(0)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "vit_tui", *_build(tiny, tmp_path / "o")],
            capture_output=True,
            text=True,
            preexec_fn=_without_root_file_access,
            timeout=120,
            cwd=Path(__file__).resolve().parents[1],
        )
    finally:
        tiny.ann_file.chmod(0o644)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("vit-tui: ") and "cannot read (Permission denied); check its permissions" in lines[0]
    assert not (tmp_path / "o").exists() and _no_partial(tmp_path)


PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _without_root_file_access() -> None:
    """In the child, before exec: as root (how CI runs), drop the two capabilities that let root read any file.

    Dropped from the bounding set, they are gone from the command's own capabilities after exec, so a
    mode-0 file refuses root as it refuses anyone else. Other users need nothing dropped.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop a capability (prctl)")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"images": [], "annotations": [{"image_id": 1, "caption": "a cat"}]}), "no 'categories' list"),
        (json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}), "'file_name'"),
    ],
)
def test_json_that_is_not_a_coco_instances_file(tiny, tmp_path, capsys, content, expected):
    bad = tmp_path / f"bad{abs(hash(content))}.json"
    bad.write_text(content)
    _fails(capsys, _build(tiny, tmp_path / "o") + ["--coco-ann", str(bad)], "not", expected)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        ("aeroplane,cat", ["unknown class 'aeroplane'", "did you mean airplane"]),
        ("cat,dgo", ["unknown class 'dgo'", "dog"]),
        ("cat,dog,cat", ["duplicate class 'cat'"]),
        ("cat", ["at least 2 classes"]),
        ("cat,,dog", ["empty class name"]),
    ],
)
def test_bad_class_lists(tiny, tmp_path, capsys, classes, expected):
    _fails(capsys, _build(tiny, tmp_path / "o", "--classes", classes, *SMALL), "--classes", *expected)
    assert not (tmp_path / "o").exists() and _no_partial(tmp_path)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (["--per-class", "3", "--train-per-class", "3"], ["--train-per-class", "smaller than --per-class"]),
        (["--per-class", "1"], ["--per-class", "2 or more"]),
        (["--per-class", "9", "--train-per-class", "5"], ["--per-class", "has only", "--allow-fewer"]),
        (["--per-class", "3", "--train-per-class", "2", "--size", "0"], ["--size"]),
        (["--per-class", "3", "--train-per-class", "2", "--workers", "0"], ["--workers"]),
    ],
)
def test_counts_that_do_not_fit(tiny, tmp_path, capsys, counts, expected):
    _fails(capsys, _build(tiny, tmp_path / "o", "--classes", "cat,dog", *counts), *expected)
    assert not (tmp_path / "o").exists() and _no_partial(tmp_path)


def test_image_folder_with_no_images_or_one_class(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    _fails(capsys, ["data", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "o")], "no images found")
    (tmp_path / "one" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one" / "cat" / "a.jpg")
    _fails(capsys, ["data", "import", str(tmp_path / "one"), "--out", str(tmp_path / "o")], "only one class (cat)")
    assert not (tmp_path / "o").exists() and _no_partial(tmp_path)


def test_existing_out_is_refused_without_force(tiny, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(_build(tiny, out, "--classes", "cat,dog", *SMALL)) == 0
    stamp = (out / "manifest.json").read_text()
    _fails(capsys, _build(tiny, out, "--classes", "cat,dog", *SMALL), "already exists", "--force")
    assert (out / "manifest.json").read_text() == stamp
    assert main(_build(tiny, out, "--classes", "bus,dog", *SMALL, "--force")) == 0
    assert read_manifest(out).classes == ["bus", "dog"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    _fails(capsys, _build(tiny, mine, "--classes", "cat,dog", *SMALL, "--force"), "not a vit-tui dataset")
    assert (mine / "notes.txt").read_text() == "keep me" and _no_partial(tmp_path)


def _limit_file_size() -> None:
    limit = 512 * 1024  # each JPEG fits, the packed cache does not: the disk "fills up" mid-build
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_leaves_nothing_behind(tmp_path):
    out = tmp_path / "data" / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vit_tui",
            "data",
            "demo",
            "--out",
            str(out),
            "--per-class-train",
            "20",
            "--per-class-val",
            "2",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vit-tui: {out}: "), result.stderr
    assert "size limit" in lines[0] or "disk is full" in lines[0]
    assert "Traceback" not in result.stderr
    assert tree_entries(out.parent) == []
