"""Image-folder import: the accepted layouts, every image mode, and the real cifar10-5 set."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import CIFAR10_5, corrupt_file, tree_entries
from PIL import Image

from vit_tui.data.folder import flat_class_name, import_folder, scan_folder
from vit_tui.data.store import DatasetError, load_split, read_manifest

COLOURS = {"red": (230, 20, 20), "green": (20, 210, 20), "blue": (20, 20, 230)}


def _picture(colour, size=(30, 20)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _class_folders(root: Path, counts: dict[str, int]) -> None:
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for k in range(count):
            _picture(COLOURS[name]).save(root / name / f"img{k}.jpg")


def _colour_matches_label(folder: Path, split: str) -> bool:
    data = load_split(folder, split)
    for image, label in zip(data.images.numpy(), data.labels):
        mean = image.reshape(-1, 3).mean(0)
        if np.abs(mean - COLOURS[data.classes[label]]).max() > 30:
            return False
    return True


def test_split_folders_with_class_subfolders(tmp_path):
    _class_folders(tmp_path / "src" / "train", {"red": 4, "green": 3})
    _class_folders(tmp_path / "src" / "test", {"red": 2, "green": 1})
    out = import_folder(tmp_path / "src", tmp_path / "ds", size=16)
    manifest = read_manifest(out)
    assert manifest.classes == ["green", "red"]
    assert manifest.counts == {"train": {"green": 3, "red": 4}, "val": {"green": 1, "red": 2}}
    assert manifest.source["layout"] == "splits" and manifest.options["val_fraction"] is None
    assert sorted(os.listdir(out / "val")) == ["green_img0.jpg", "red_img0.jpg", "red_img1.jpg"]
    assert _colour_matches_label(out, "train") and _colour_matches_label(out, "val")


def test_one_folder_of_classes_is_split_by_a_seeded_ratio(tmp_path):
    _class_folders(tmp_path / "src", {"red": 10, "green": 10, "blue": 5})
    out = import_folder(tmp_path / "src", tmp_path / "a", size=16, val_fraction=0.2, seed=1)
    manifest = read_manifest(out)
    assert manifest.counts["val"] == {"blue": 1, "green": 2, "red": 2}
    assert manifest.counts["train"] == {"blue": 4, "green": 8, "red": 8}
    again = import_folder(tmp_path / "src", tmp_path / "b", size=16, val_fraction=0.2, seed=1)
    assert os.listdir(again / "val") and sorted(os.listdir(again / "val")) == sorted(os.listdir(out / "val"))
    picks = {
        tuple(sorted(os.listdir(import_folder(tmp_path / "src", tmp_path / f"s{s}", seed=s) / "val")))
        for s in range(2, 6)
    }
    assert len(picks) > 1, "the seed changes which images go to val"


def test_reference_flat_layout(tmp_path):
    for split, count in (("train_data", 3), ("val_data", 1)):
        (tmp_path / "src" / split).mkdir(parents=True)
        for name in ("red", "blue"):
            for k in range(count):
                _picture(COLOURS[name]).save(tmp_path / "src" / split / f"{name}_COCO_train2014_{k:012d}.jpg")
    Image.new("RGB", (4, 4)).save(tmp_path / "src" / "train_data" / "nolabel.jpg")
    (tmp_path / "src" / "train_data" / "notes.txt").write_text("ignored")
    out = import_folder(tmp_path / "src", tmp_path / "ds", size=16)
    manifest = read_manifest(out)
    assert manifest.classes == ["blue", "red"] and manifest.total("train") == 6 and manifest.total("val") == 2
    assert "red_COCO_train2014_000000000000.jpg" in os.listdir(out / "train")
    assert [Path(p).name for p in manifest.report["unlabelled"]] == ["nolabel.jpg"]
    assert _colour_matches_label(out, "train")
    assert flat_class_name("hot_dog_000000000009.jpg") == "hot_dog"
    assert flat_class_name("cat_photo_1.png") == "cat" and flat_class_name("cat.png") is None


def test_every_image_mode_becomes_rgb_of_the_chosen_size(tmp_path):
    src = tmp_path / "src" / "red"
    src.mkdir(parents=True)
    red = _picture(COLOURS["red"], (50, 30))
    red.convert("L").save(src / "grey.png")
    red.convert("RGBA").save(src / "alpha.png")
    red.convert("CMYK").save(src / "cmyk.jpg")
    red.convert("P").save(src / "palette.gif")
    Image.fromarray(np.full((30, 50), 40000, np.uint16)).save(src / "deep.png")  # 16-bit grey
    red.convert("LA").save(src / "grey_alpha.png")
    red.save(src / "tiny.bmp")
    (src / "nested").mkdir()
    red.save(src / "nested" / "deep.webp")
    _class_folders(tmp_path / "src", {"green": 2})
    out = import_folder(tmp_path / "src", tmp_path / "ds", size=24, val_fraction=0.5)
    data = [load_split(out, split) for split in ("train", "val")]
    names = sorted(n for d in data for n in d.files)
    assert names == sorted(
        [
            "red_grey.jpg",
            "red_alpha.jpg",
            "red_cmyk.jpg",
            "red_palette.jpg",
            "red_deep.jpg",
            "red_grey_alpha.jpg",
            "red_tiny.jpg",
            "red_nested_deep.jpg",
            "green_img0.jpg",
            "green_img1.jpg",
        ]
    )
    for d in data:
        assert d.images.shape[1:] == (24, 24, 3)
    by_name = {n: img for d in data for n, img in zip(d.files, d.images)}
    assert (
        by_name["red_alpha.jpg"][:, :, 0].float().mean() > 200 and by_name["red_alpha.jpg"][:, :, 1].float().mean() < 60
    )
    assert by_name["red_cmyk.jpg"][:, :, 0].float().mean() > 180
    grey = by_name["red_grey.jpg"].float()
    assert torch.allclose(grey[..., 0], grey[..., 1], atol=2)  # grey stays grey
    assert by_name["red_deep.jpg"].float().mean() > 240  # 16-bit scaled to its own maximum


def test_corrupt_images_are_skipped_and_counted(tmp_path):
    _class_folders(tmp_path / "src", {"red": 4, "green": 4})
    corrupt_file(tmp_path / "src" / "red" / "img0.jpg", keep_bytes=300)
    (tmp_path / "src" / "green" / "img9.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    # The seeded split sends red's unreadable file to val, leaving red none there.
    with pytest.raises(DatasetError, match="'red' has no val image"):
        import_folder(tmp_path / "src", tmp_path / "ds", size=16)
    out = import_folder(tmp_path / "src", tmp_path / "ds", size=16, allow_empty_classes=True)
    manifest = read_manifest(out)
    assert sorted(manifest.report["unreadable"]) == [os.path.join("green", "img9.png"), os.path.join("red", "img0.jpg")]
    assert manifest.total("train") + manifest.total("val") == 7
    assert manifest.report["empty_classes"] == ["'red' has no val image"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda src: src.mkdir(), "no images found"),
        (lambda src: _class_folders(src, {"red": 3}), "only one class"),
        (lambda src: (src.mkdir(), (src / "red_1.txt").write_text("x")), "no images found"),
    ],
)
def test_folders_without_two_classes_are_refused(tmp_path, setup, message):
    setup(tmp_path / "src")
    with pytest.raises(DatasetError, match=message):
        import_folder(tmp_path / "src", tmp_path / "ds")
    assert tree_entries(tmp_path) == ["src"]


def test_output_inside_or_over_the_source_is_refused(tmp_path):
    _class_folders(tmp_path / "src", {"red": 2, "green": 2})
    with pytest.raises(DatasetError, match="inside the source"):
        import_folder(tmp_path / "src", tmp_path / "src" / "out")
    with pytest.raises(DatasetError, match="source folder"):
        import_folder(tmp_path / "src", tmp_path / "src", force=True)
    assert sorted(os.listdir(tmp_path / "src")) == ["green", "red"]
    with pytest.raises(DatasetError, match="between 0 and 1"):
        import_folder(tmp_path / "src", tmp_path / "ds", val_fraction=1.0)
    assert scan_folder(tmp_path / "src").classes == ["green", "red"]


@pytest.mark.slow
@pytest.mark.skipif(not CIFAR10_5.is_file(), reason="shared/data/cifar10-5.tar.gz is not here")
def test_cifar10_5_imports_25000_train_and_5000_val(tmp_path):
    scratch = _fast_scratch(tmp_path)
    try:
        if shutil.which("tar"):
            subprocess.run(["tar", "-xzf", str(CIFAR10_5), "-C", str(scratch)], check=True)
        else:  # pragma: no cover - every CI image has tar
            with tarfile.open(CIFAR10_5) as archive:
                archive.extractall(scratch, filter="data")
        out = import_folder(scratch / "cifar10-5", scratch / "cifar5", size=32)
        manifest = read_manifest(out)
        assert manifest.classes == ["airplane", "automobile", "cat", "dog", "truck"]
        assert manifest.total("train") == 25_000 and manifest.total("val") == 5_000
        assert set(manifest.counts["train"].values()) == {5000} and set(manifest.counts["val"].values()) == {1000}
        val = load_split(out, "val")
        assert val.images.shape == (5000, 32, 32, 3) and torch.bincount(val.labels).tolist() == [1000] * 5
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _fast_scratch(tmp_path: Path) -> Path:
    """A memory-backed folder when there is room: 60,000 small files are slow on some disks."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2**30:
        return Path(tempfile.mkdtemp(prefix="vit-tui-cifar-", dir=shm))
    return tmp_path
