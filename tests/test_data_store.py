"""The dataset folder: manifest, packed cache, staleness checks, atomic writes."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import tree_entries
from PIL import Image

from vit_tui.data.cache import label_from_name
from vit_tui.data.imaging import read_image
from vit_tui.data.stage import write_dataset
from vit_tui.data.store import (
    SCHEMA_VERSION,
    SPLITS,
    DatasetError,
    list_datasets,
    load_split,
    read_manifest,
)
from vit_tui.errors import UserError


def _arrays(count: int, size: int = 16, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random pictures (JPEG keeps them close) and cycling labels."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(count, 4, 4, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(base, size // 4, axis=1), size // 4, axis=2)
    return images, np.arange(count) % classes


def _dataset(tmp_path: Path, name: str = "ds", classes=("red", "green", "blue"), **kwargs) -> Path:
    train = _arrays(12, classes=len(classes))
    val = _arrays(6, classes=len(classes), seed=1)
    return write_dataset(
        tmp_path / name, list(classes), {"train": train, "val": val}, name=name, source={"kind": "test"}, **kwargs
    )


def test_write_dataset_makes_files_manifest_and_a_cache_equal_to_the_files(tmp_path):
    folder = _dataset(tmp_path, seed=7, options={"note": "x"})
    manifest = read_manifest(folder)
    assert manifest.schema == SCHEMA_VERSION
    assert manifest.classes == ["red", "green", "blue"]
    assert manifest.counts == {"train": {"red": 4, "green": 4, "blue": 4}, "val": {"red": 2, "green": 2, "blue": 2}}
    assert manifest.image_size == 16 and manifest.seed == 7 and manifest.options["note"] == "x"
    assert manifest.coco_ids == [None, None, None]
    assert datetime.fromisoformat(manifest.created).tzinfo is not None
    split = load_split(folder, "train")
    assert split.images.dtype == torch.uint8 and split.images.shape == (12, 16, 16, 3)
    assert split.labels.dtype == torch.int64 and split.labels.tolist() == [0, 1, 2] * 4
    assert split.classes == manifest.classes
    for image, label, name in zip(split.images, split.labels, split.files):
        assert name.startswith(manifest.classes[label] + "_") and name.endswith(".jpg")
        assert np.array_equal(image.numpy(), read_image(folder / "train" / name, 16))
    original, _ = _arrays(12)
    assert np.abs(split.images.numpy().astype(int) - original).mean() < 3  # JPEG q95 keeps it close
    assert not [n for n in tree_entries(tmp_path) if n.startswith(".")], "no temporary folder left behind"


def test_a_split_left_out_is_written_empty(tmp_path):
    images, labels = _arrays(4, classes=2)
    folder = write_dataset(tmp_path / "ds", ["a", "b"], {"train": (images, labels)}, name="ds", source={})
    val = load_split(folder, "val")
    assert val.images.shape == (0, 16, 16, 3) and val.labels.shape == (0,) and val.files == []
    assert read_manifest(folder).counts["val"] == {"a": 0, "b": 0}


def test_load_split_moves_to_the_requested_device(tmp_path):
    folder = _dataset(tmp_path)
    split = load_split(folder, "val", device="cpu")
    assert split.images.device.type == "cpu" and split.labels.device.type == "cpu"
    if torch.cuda.is_available():
        on_gpu = load_split(folder, "val", device="cuda")
        assert on_gpu.images.is_cuda and torch.equal(on_gpu.images.cpu(), split.images)


def test_touched_file_rebuilds_the_cache_with_equal_content(tmp_path):
    folder = _dataset(tmp_path)
    before = load_split(folder, "train")
    index_before = json.loads((folder / "cache" / "train.json").read_text())
    victim = folder / "train" / before.files[0]
    stamp = victim.stat().st_mtime_ns + 5_000_000_000
    os.utime(victim, ns=(stamp, stamp))
    after = load_split(folder, "train")
    index_after = json.loads((folder / "cache" / "train.json").read_text())
    assert index_after["fingerprint"] != index_before["fingerprint"]
    assert after.files == before.files and torch.equal(after.images, before.images)
    assert torch.equal(after.labels, before.labels)


def test_replaced_removed_and_added_files_show_up_after_a_rebuild(tmp_path):
    folder = _dataset(tmp_path)
    before = load_split(folder, "train")
    white = np.full((40, 30, 3), 255, np.uint8)
    Image.fromarray(white).save(folder / "train" / before.files[0])  # same name, new picture
    (folder / "train" / before.files[1]).unlink()
    Image.fromarray(white, "RGB").convert("L").save(folder / "train" / "blue_extra.png")  # hand-made, any size
    after = load_split(folder, "train")
    assert len(after) == len(before)  # one gone, one added
    assert before.files[1] not in after.files
    assert after.images[after.files.index(before.files[0])].float().mean() > 250
    extra = after.files.index("blue_extra.png")
    assert after.classes[after.labels[extra]] == "blue" and after.images[extra].shape == (16, 16, 3)


def test_cache_deleted_rebuilds_to_the_same_arrays(tmp_path):
    folder = _dataset(tmp_path)
    before = load_split(folder, "val")
    for name in os.listdir(folder / "cache"):
        (folder / "cache" / name).unlink()
    after = load_split(folder, "val")
    order = np.argsort(before.files)
    assert after.files == sorted(before.files)
    assert torch.equal(after.images, before.images[order]) and torch.equal(after.labels, before.labels[order])
    assert (folder / "cache" / "val.npy").is_file()


def test_labels_come_from_the_index_not_from_splitting_names(tmp_path):
    # "hot" image originally named "dog_1" is saved as hot_dog_1.jpg; the prefix alone would say hot_dog.
    images, _ = _arrays(2)
    folder = write_dataset(
        tmp_path / "ds",
        ["hot", "hot_dog"],
        {"train": (images, np.array([0, 1])), "val": (images, np.array([1, 0]))},
        name="ds",
        source={},
        files={"train": ["dog_1.jpg", "x.jpg"], "val": ["y.jpg", "z.jpg"]},
    )
    split = load_split(folder, "train")
    assert split.files == ["hot_dog_1.jpg", "hot_dog_x.jpg"]
    assert split.labels.tolist() == [0, 1]
    os.utime(folder / "train" / "hot_dog_x.jpg")  # stale cache: labels must survive the rebuild
    assert load_split(folder, "train").labels.tolist() == [0, 1]
    assert label_from_name("hot_dog_2.jpg", ["hot", "hot_dog"]) == 1
    assert label_from_name("traffic_light_2.jpg", ["traffic light", "cat"]) == 0
    assert label_from_name("other.jpg", ["hot", "hot_dog"]) is None


def test_unreadable_and_unlabelled_files_are_skipped_on_rebuild(tmp_path):
    folder = _dataset(tmp_path)
    (folder / "train" / "green_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    Image.new("RGB", (8, 8)).save(folder / "train" / "nobody_1.jpg")
    split = load_split(folder, "train")
    assert sorted(split.skipped) == ["green_broken.jpg", "nobody_1.jpg"] and len(split) == 12


@pytest.mark.slow
def test_ten_thousand_images_load_well_under_a_second(tmp_path):
    images, labels = _arrays(10_000, size=64, classes=5)
    folder = write_dataset(
        tmp_path / "big",
        list("abcde"),
        {"train": (images, labels), "val": (images[:10], labels[:10])},
        name="big",
        source={},
    )
    load_split(folder, "train")  # first call pays the imports
    started = time.perf_counter()
    split = load_split(folder, "train")
    elapsed = time.perf_counter() - started
    assert split.images.shape == (10_000, 64, 64, 3)
    assert elapsed < 1.0, f"loading took {elapsed:.2f} s"


def test_existing_folder_is_refused_without_force_and_replaced_with_it(tmp_path):
    folder = _dataset(tmp_path)
    with pytest.raises(DatasetError, match="already exists"):
        _dataset(tmp_path)
    replaced = _dataset(tmp_path, classes=("a", "b"), force=True)
    assert read_manifest(replaced).classes == ["a", "b"]
    assert folder == replaced and sorted(tree_entries(tmp_path)) == ["ds"]


def test_force_never_replaces_a_folder_that_is_not_a_dataset(tmp_path):
    mine = tmp_path / "ds"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not a vit-tui dataset"):
        _dataset(tmp_path, force=True)
    assert (mine / "thesis.tex").read_text() == "precious" and tree_entries(tmp_path) == ["ds"]


@pytest.mark.parametrize(
    ("classes", "labels", "message"),
    [(["a"], [0, 0], "at least 2 classes"), (["a", "a"], [0, 1], "duplicate class"), (["a", "b"], [0, 2], "labels")],
)
def test_bad_arrays_leave_nothing_behind(tmp_path, classes, labels, message):
    images, _ = _arrays(2)
    with pytest.raises(DatasetError, match=message) as info:
        write_dataset(tmp_path / "ds", classes, {"train": (images, np.array(labels))}, name="ds", source={})
    assert isinstance(info.value, UserError)
    assert tree_entries(tmp_path) == []


def test_manifest_problems_are_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset folder"):
        read_manifest(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a vit-tui dataset"):
        load_split(tmp_path / "empty", "train")
    folder = _dataset(tmp_path)
    (folder / "manifest.json").write_text("{broken")
    with pytest.raises(DatasetError, match="cannot read the manifest"):
        read_manifest(folder)
    (folder / "manifest.json").write_text(json.dumps({"schema": SCHEMA_VERSION + 1}))
    with pytest.raises(DatasetError, match="not supported"):
        read_manifest(folder)


def test_list_datasets_finds_folders_with_a_manifest(tmp_path):
    _dataset(tmp_path, "b")
    _dataset(tmp_path, "a")
    (tmp_path / "not-one").mkdir()
    assert [p.name for p in list_datasets(tmp_path)] == ["a", "b"]
    assert list_datasets(tmp_path / "missing") == []
    assert SPLITS == ("train", "val")
