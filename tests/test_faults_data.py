"""Fault suite for datasets: hand-edited manifests, damaged caches, empty classes, missing COCO files.

Each case damages a real dataset folder (or its sources) and checks what happens now: a refusal
as one ``vit-tui: <file>: <what to do>`` line with exit code 2, or a silent rebuild that gives
back exactly what decoding the files gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import COCO128

from vit_tui.cli import main
from vit_tui.data.imaging import read_image
from vit_tui.data.stage import write_dataset
from vit_tui.data.store import DatasetError, load_split_arrays

CLASSES = ("red", "green", "blue")


def _arrays(count: int, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flat-coloured pictures (JPEG keeps them exact enough) with cycling labels."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(count, 1, 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, size, axis=1), size, axis=2), np.arange(count) % len(CLASSES)


def _dataset(tmp_path: Path, name: str = "ds") -> Path:
    splits = {"train": _arrays(9), "val": _arrays(6, seed=1)}
    return write_dataset(tmp_path / name, list(CLASSES), splits, name=name, source={"kind": "test"})


def _edit_manifest(folder: Path, change: Callable[[dict], None]) -> None:
    path = folder / "manifest.json"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


def _one_line_exit_2(capsys, argv: list[str], *expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("vit-tui: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# --- 1. hand-edited manifest, damaged cache -------------------------------------------------


def _reverse_classes(folder: Path) -> None:
    _edit_manifest(folder, lambda raw: raw["classes"].reverse())


def _reverse_classes_old_index(folder: Path) -> None:
    # Caches written before the index kept its class list: the file prefixes still tell.
    for split in ("train", "val"):
        path = folder / "cache" / f"{split}.json"
        index = json.loads(path.read_text())
        del index["classes"]
        path.write_text(json.dumps(index))
    _reverse_classes(folder)


def _duplicate_class(folder: Path) -> None:
    _edit_manifest(folder, lambda raw: raw.update(classes=["red", "green", "green"]))


def _duplicate_class_by_prefix(folder: Path) -> None:
    _edit_manifest(folder, lambda raw: raw.update(classes=["red", "light blue", "light_blue"]))


def _renamed_class(folder: Path) -> None:
    _edit_manifest(folder, lambda raw: raw["classes"].__setitem__(0, "crimson"))


MANIFEST_CASES = {
    "classes reversed": (_reverse_classes, "differ from cache/train.json"),
    "classes reversed, index without classes": (_reverse_classes_old_index, "does not match the files"),
    "duplicate class": (_duplicate_class, "lists class 'green' twice"),
    "duplicate class by file prefix": (_duplicate_class_by_prefix, "twice"),
    "class renamed": (_renamed_class, "differ from cache/train.json"),
}


@pytest.mark.parametrize("case", list(MANIFEST_CASES))
def test_an_edited_manifest_is_refused_in_one_line(tmp_path, capsys, case):
    folder = _dataset(tmp_path)
    damage, expected = MANIFEST_CASES[case]
    damage(folder)
    with pytest.raises(DatasetError, match=expected) as info:
        load_split_arrays(folder, "train")
    assert info.value.subject == str(folder / "manifest.json")
    _one_line_exit_2(capsys, ["data", "show", str(folder), "--no-samples"], "manifest.json", expected)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _grow(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0" * 48)


def _header_shape(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data.replace(b"(9, 16, 16, 3)", b"(9, 16, 3, 16)"))


CACHE_CASES = {"one byte flipped": _flip_a_byte, "cut short": _cut_short, "grown": _grow, "header shape": _header_shape}


@pytest.mark.parametrize("case", list(CACHE_CASES))
def test_a_damaged_cache_is_rebuilt_from_the_files(tmp_path, case):
    folder = _dataset(tmp_path)
    before = load_split_arrays(folder, "train")
    CACHE_CASES[case](folder / "cache" / "train.npy")
    after = load_split_arrays(folder, "train")
    assert after.files == before.files and after.labels.tolist() == before.labels.tolist()
    for image, name in zip(after.images, after.files):
        assert np.array_equal(image, read_image(folder / "train" / name, 16))
    assert np.array_equal(after.images, before.images)


def test_the_cli_refuses_an_edited_manifest_in_a_subprocess(tmp_path):
    folder = _dataset(tmp_path)
    _reverse_classes(folder)
    done = subprocess.run(
        [sys.executable, "-m", "vit_tui", "data", "show", str(folder), "--no-samples"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "manifest.json" in done.stderr


# --- 2. classes without train or val images ------------------------------------------------


def _image_folder(root: Path, counts: dict[str, int], unreadable: tuple[str, ...] = ()) -> Path:
    """Class folders of 32x32 flat-coloured JPEGs; the classes in ``unreadable`` get cut-off files."""
    from PIL import Image

    for index, (name, count) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for k in range(count):
            path = root / name / f"{k:03d}.jpg"
            Image.new("RGB", (32, 32), (60 * index, 255 - 40 * index, 9 * k)).save(path)
            if name in unreadable:
                path.write_bytes(path.read_bytes()[:100])
    return root


EMPTY_CLASS_CASES = {
    "class with only unreadable images": ({"a": 8, "b": 8, "c": 4}, ("c",), "'c' has no train and no val image"),
    "class with one image": ({"a": 8, "b": 8, "c": 1}, (), "'c' has no val image"),
}


@pytest.mark.parametrize("case", list(EMPTY_CLASS_CASES))
def test_an_import_leaving_a_class_empty_is_refused(tmp_path, capsys, case):
    counts, unreadable, expected = EMPTY_CLASS_CASES[case]
    src = _image_folder(tmp_path / "src", counts, unreadable)
    argv = ["data", "import", str(src), "--out", str(tmp_path / "ds"), "--size", "16", "--workers", "1"]
    _one_line_exit_2(capsys, argv, str(src), expected, "--allow-empty-classes")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_allow_empty_classes_keeps_the_class_and_warns_at_build_show_and_train(tmp_path):
    from tui_fixtures import TINY_SETTINGS

    src = _image_folder(tmp_path / "src", {"a": 20, "b": 20, "c": 1})
    out = tmp_path / "ds"
    vit = [sys.executable, "-m", "vit_tui", "--home", str(tmp_path)]
    built = subprocess.run(
        [*vit, "data", "import", str(src), "--out", str(out), "--size", "32", "--allow-empty-classes"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    warning = "warning: 'c' has no val image"
    assert built.returncode == 0 and warning in built.stdout, built.stderr
    shown = subprocess.run([*vit, "data", "show", str(out), "--no-samples"], capture_output=True, text=True)
    assert shown.returncode == 0 and warning in shown.stdout
    sets = [arg for item in TINY_SETTINGS for arg in ("--set", item)]
    trained = subprocess.run(
        [*vit, "train", "--data", str(out), *sets, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.count(warning) == 1


# --- 3. COCO build with listed image files missing -------------------------------------------


def _coco128_subset(tmp_path: Path, keep_dogs: int) -> tuple[Path, list[str]]:
    """A folder holding coco128's dog and cup images but only ``keep_dogs`` of the dog-only ones."""
    import shutil

    raw = json.loads((COCO128 / "annotations" / "instances_train2017.json").read_text())
    names = {image["id"]: image["file_name"] for image in raw["images"]}
    holders: dict[int, set[int]] = {}
    for ann in raw["annotations"]:
        holders.setdefault(ann["category_id"], set()).add(ann["image_id"])
    dog, cup = holders[18], holders[47]
    dog_only = sorted(dog - cup)
    folder = tmp_path / "images"
    folder.mkdir()
    for image_id in sorted(cup) + dog_only[:keep_dogs]:
        shutil.copy(COCO128 / "train2017" / names[image_id], folder / names[image_id])
    return folder, [names[i] for i in dog_only[keep_dogs:]]


ALLOW = ["--allow-fewer"]
# keep: dog-only files left in the folder; what comes of it; the text it prints; dogs in the dataset.
COCO_CASES = {
    "dog files missing": (3, [], 2, ["images: ", "5 sampled", "dog 3 (train 2, val 1)", "--allow-fewer"], 0),
    "dog files missing, --allow-fewer": (3, ALLOW, 0, ["--allow-fewer: dog has 3 of the 8 images asked"], 3),
    "no dog val file left, --allow-fewer": (2, ALLOW, 2, ["'dog' has no val image", "--allow-empty-classes"], 0),
    "no dog val file left, both flags": (2, [*ALLOW, "--allow-empty-classes"], 0, ["warning: 'dog' has no val"], 2),
    "every dog file missing, --allow-fewer": (0, ALLOW, 2, ["'dog' has no train and no val image"], 0),
}


@pytest.mark.skipif(not COCO128.is_dir(), reason="shared/data/coco128 is not here")
@pytest.mark.parametrize("case", list(COCO_CASES))
def test_a_coco_build_with_missing_files_states_the_shortfall(tmp_path, capsys, case):
    keep_dogs, extra, code, expected, dogs = COCO_CASES[case]
    images, _ = _coco128_subset(tmp_path, keep_dogs)
    out = tmp_path / "ds"
    argv = ["data", "build", "--coco-ann", str(COCO128 / "annotations" / "instances_train2017.json")]
    argv += ["--coco-images", str(images), "--classes", "dog,cup", "--per-class", "8", "--train-per-class", "6"]
    argv += ["--size", "16", "--workers", "1", "--out", str(out), *extra]
    if code == 2:
        _one_line_exit_2(capsys, argv, *expected)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["images"]
        return
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for text in expected:
        assert text in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["train"]["dog"] + manifest["counts"]["val"]["dog"] == dogs
    assert manifest["report"]["shortfall"]["dog"]["got"] == dogs and "cup" not in manifest["report"]["shortfall"]


# --- 4. smaller cases ------------------------------------------------------------------------


@pytest.fixture
def tiny_coco(tmp_path):
    from data_fixtures import make_tiny_coco

    return make_tiny_coco(tmp_path / "coco")


CLASS_NAME_CASES = {
    "one category twice": ("person,Person", 2, "'person' and 'Person' name one category"),
    "typed with capitals": ("Traffic Light,CAT", 0, ["traffic light", "cat"]),
}


@pytest.mark.parametrize("case", list(CLASS_NAME_CASES))
def test_class_names_are_checked_against_coco_spelling(tiny_coco, tmp_path, capsys, case):
    classes, code, expected = CLASS_NAME_CASES[case]
    out = tmp_path / "ds"
    argv = ["data", "build", "--coco-ann", str(tiny_coco.ann_file), "--coco-images", str(tiny_coco.images_dir)]
    argv += ["--classes", classes, "--per-class", "3", "--train-per-class", "2", "--size", "16", "--out", str(out)]
    if code == 2:
        _one_line_exit_2(capsys, argv, expected)
        return
    assert main(argv) == 0
    assert json.loads((out / "manifest.json").read_text())["classes"] == expected
    assert sorted({name.split("_0")[0] for name in os.listdir(out / "train")}) == ["cat", "traffic_light"]


def _sideways_jpeg(path: Path, orientation: int | None) -> None:
    """Stored 40x20, left half red, right half blue; orientation 6 means "turn 90 degrees clockwise to view"."""
    from PIL import Image

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)
    pixels[:, 20:] = (0, 0, 255)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, quality=95, exif=exif.tobytes())


def test_exif_orientation_is_applied_on_import(tmp_path):
    from vit_tui.data.folder import import_folder

    src = tmp_path / "src"
    for name, orientation in (("turned", 6), ("plain", None)):
        (src / name).mkdir(parents=True)
        for k in range(2):
            _sideways_jpeg(src / name / f"{k}.jpg", orientation)
    out = import_folder(src, tmp_path / "ds", size=16, workers=1)
    for split in ("train", "val"):
        arrays = load_split_arrays(out, split)
        for image, label in zip(arrays.images.astype(int), arrays.labels):
            top, left = image[:8].mean(axis=(0, 1)), image[:, :8].mean(axis=(0, 1))
            if arrays.classes[label] == "turned":  # upright: red above blue
                assert top[0] > 200 and top[2] < 60, top
            else:  # as stored: red left of blue
                assert left[0] > 200 and left[2] < 60, left


def test_files_left_out_at_train_time_are_named_once(tmp_path):
    from tui_fixtures import TINY_SETTINGS, make_tiny_dataset

    folder = make_tiny_dataset(tmp_path / "data")
    (folder / "train" / "zebra_1.jpg").write_bytes((folder / "train" / "circle_train_000000.jpg").read_bytes())
    (folder / "train" / "circle_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off")
    sets = [arg for item in TINY_SETTINGS for arg in ("--set", item)]
    vit = [sys.executable, "-m", "vit_tui", "--home", str(tmp_path)]
    shown = subprocess.run([*vit, "data", "show", str(folder), "--no-samples"], capture_output=True, text=True)
    trained = subprocess.run(
        [*vit, "train", "--data", str(folder), *sets, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert shown.returncode == 0 and trained.returncode == 0, trained.stderr
    for output in (shown.stdout, trained.stdout):
        lines = [line for line in output.splitlines() if "left out" in line]
        assert len(lines) == 1 and "2 file(s) in train/" in lines[0], output
        assert "circle_broken.jpg" in lines[0] and "zebra_1.jpg" in lines[0]


def _fixed_runs(root: Path, names: list[str], classes: list[list[str]] | None = None) -> list[Path]:
    from tui_fixtures import make_fixed_run

    runs = [make_fixed_run(root, name, skill=0.1 * k) for k, name in enumerate(names)]
    for run, wanted in zip(runs, classes or []):
        path = run / "summary.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "classes": wanted}))
    return runs


COMPARE_CASES = {
    "same classes": (None, 0),
    "different classes": ([["circle", "square", "triangle"], ["cat", "dog", "triangle"]], 1),
}


@pytest.mark.parametrize("case", list(COMPARE_CASES))
def test_compare_warns_when_the_runs_know_different_classes(tmp_path, capsys, case):
    classes, warnings = COMPARE_CASES[case]
    runs = _fixed_runs(tmp_path / "runs", ["a", "b"], classes)
    assert main(["compare", *map(str, runs), "--out", str(tmp_path / "cmp")]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if "different classes" in line]
    report = (tmp_path / "cmp" / "comparison.md").read_text()
    assert len(printed) == warnings and report.count("different classes") == warnings
    if warnings:
        assert "a: circle, square, triangle; b: cat, dog, triangle" in printed[0]


def test_the_runs_table_at_80_columns_keeps_names_apart(tmp_path):
    names = ["reference-einsum-coco5-lr2e-4-seed1", "reference-einsum-coco5-lr2e-4-seed2", "fast"]
    _fixed_runs(tmp_path / "runs", names)
    done = subprocess.run(
        [sys.executable, "-m", "vit_tui", "runs", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
    )
    rows = [line for line in done.stdout.splitlines() if "reference" in line and "seed" in line]
    assert done.returncode == 0 and max(len(line) for line in done.stdout.splitlines()) <= 80
    assert len(rows) == 2 and sorted(row.split()[1][-5:] for row in rows) == ["seed1", "seed2"], done.stdout


WORDING_CASES = {
    "demo without train images": (["data", "demo", "--per-class-train", "0"], "--per-class-train: needs at least 1"),
    "demo without val images": (["data", "demo", "--per-class-val", "0"], "--per-class-val: needs at least 1"),
    "eval on an unknown device": (["eval", "{run}", "--device", "tpu"], "--device: unknown device 'tpu'"),
    "eval on an absent GPU": (["eval", "{run}", "--device", "cuda:99"], "--device: cuda:99"),
    "predict on a folder without images": (["predict", "{run}", "{run}"], "holds no image files (.jpg"),
    "predict on a missing file": (
        ["predict", "{run}", "{tmp}/nope.jpg"],
        "nope.jpg: image file not found; check the path",
    ),
}


@pytest.mark.parametrize("case", list(WORDING_CASES))
def test_errors_name_the_option_the_user_typed(tmp_path, capsys, case):
    argv, expected = WORDING_CASES[case]
    (run,) = _fixed_runs(tmp_path / "runs", ["run"])
    argv = [arg.format(run=run, tmp=tmp_path) for arg in argv]
    if argv[0] == "data":
        argv += ["--out", str(tmp_path / "demo")]
    line = _one_line_exit_2(capsys, ["--home", str(tmp_path), *argv], expected)
    assert "train.device" not in line and "--per-class:" not in line
