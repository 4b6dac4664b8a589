"""The COCO subset builder, on a generated COCO-format set and on the real coco128 when present."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_fixtures import COCO128, TINY_CATEGORIES, class_of_colour, corrupt_file, make_tiny_coco, tree_entries
from PIL import Image

from vit_tui.data.coco import REFERENCE_CLASSES, build_coco, coco_classes, find_coco, locate_image
from vit_tui.data.imaging import read_image
from vit_tui.data.store import DatasetError, load_split, read_manifest

SMALL = {"per_class": 3, "train_per_class": 2, "size": 16}


@pytest.fixture
def tiny(tmp_path):
    return make_tiny_coco(tmp_path / "coco")


def _labels_by_colour(folder: Path, split: str) -> list[tuple[str, str]]:
    data = load_split(folder, split)
    return [(data.classes[label], class_of_colour(image.numpy())) for image, label in zip(data.images, data.labels)]


def test_build_samples_per_class_names_files_and_writes_a_manifest(tiny, tmp_path):
    classes = ["airplane", "bus", "pizza"]
    out = build_coco(tiny.ann_file, tiny.images_dir, classes, tmp_path / "sub", seed=5, **SMALL)
    manifest = read_manifest(out)
    assert manifest.classes == classes
    assert manifest.coco_ids == [TINY_CATEGORIES[c][0] for c in classes]
    assert manifest.counts == {"train": dict.fromkeys(classes, 2), "val": dict.fromkeys(classes, 1)}
    assert manifest.seed == 5 and manifest.image_size == 16 and manifest.source["kind"] == "coco"
    assert manifest.options["per_class"] == 3 and manifest.options["resize"] == "stretch"
    for split in ("train", "val"):
        for name in os.listdir(out / split):
            cls, coco_name = name.split("_", 1)
            assert coco_name in tiny.images_of[cls]
            with Image.open(out / split / name) as img:
                assert img.format == "JPEG" and img.mode == "RGB" and img.size == (16, 16)
        assert all(label == colour for label, colour in _labels_by_colour(out, split))
    train_names = set(os.listdir(out / "train"))
    assert not train_names & set(os.listdir(out / "val")), "an image is in one split per class"


def test_sampling_follows_the_seed(tiny, tmp_path):
    builds = iter(range(100))

    def chosen(seed):
        out = tmp_path / f"build{next(builds)}"
        build_coco(tiny.ann_file, tiny.images_dir, ["airplane", "dog"], out, seed=seed, **SMALL)
        return sorted(os.listdir(out / "train")) + sorted(os.listdir(out / "val"))

    first = chosen(5)
    assert chosen(5) == first
    assert any(chosen(seed) != first for seed in (1, 2, 3))


def test_images_with_two_chosen_classes_are_kept_or_dropped_and_reported(tiny, tmp_path):
    counts = {"per_class": 5, "train_per_class": 4, "size": 16}
    kept = build_coco(tiny.ann_file, tiny.images_dir, ["cat", "dog"], tmp_path / "kept", seed=0, **counts)
    report = read_manifest(kept).report
    assert report["multi_class"] == len(tiny.multi) == 2
    assert report["dropped_multi_class"] == 0
    names = [n.split("_", 1)[1] for split in ("train", "val") for n in os.listdir(kept / split)]
    assert report["shared_between_classes"] == sum(names.count(m) == 2 for m in tiny.multi)

    only = build_coco(
        tiny.ann_file,
        tiny.images_dir,
        ["cat", "dog"],
        tmp_path / "only",
        seed=0,
        exclusive=True,
        per_class=4,
        train_per_class=3,
        size=16,
    )
    report = read_manifest(only).report
    assert report["dropped_multi_class"] == 4  # two images, dropped from both classes
    used = {n.split("_", 1)[1] for split in ("train", "val") for n in os.listdir(only / split)}
    assert not used & set(tiny.multi)


def test_too_few_images_is_an_error_unless_allowed(tiny, tmp_path):
    with pytest.raises(DatasetError, match=r"'traffic light' has only 3 images, fewer than 4") as info:
        build_coco(
            tiny.ann_file,
            tiny.images_dir,
            ["cat", "traffic light"],
            tmp_path / "x",
            per_class=4,
            train_per_class=3,
            size=16,
        )
    assert info.value.subject == "--per-class"
    with pytest.raises(DatasetError, match="holding no other chosen class"):
        build_coco(
            tiny.ann_file,
            tiny.images_dir,
            ["cat", "dog"],
            tmp_path / "x",
            per_class=5,
            train_per_class=4,
            exclusive=True,
            size=16,
        )
    assert tree_entries(tmp_path) == ["coco"]
    out = build_coco(
        tiny.ann_file,
        tiny.images_dir,
        ["cat", "traffic light"],
        tmp_path / "x",
        per_class=4,
        train_per_class=3,
        size=16,
        allow_fewer=True,
    )
    manifest = read_manifest(out)
    assert manifest.counts["train"]["traffic light"] + manifest.counts["val"]["traffic light"] == 3
    assert manifest.counts["val"]["traffic light"] >= 1 and manifest.report["fewer"] == {"traffic light": 3}
    assert all(n.startswith(("cat_", "traffic_light_")) for n in os.listdir(out / "train"))


def test_corrupt_and_missing_images_are_skipped_and_counted(tiny, tmp_path):
    broken = tiny.images_of["bus"][:2]
    corrupt_file(tiny.images_dir / broken[0], keep_bytes=200)  # header cut
    data = (tiny.images_dir / broken[1]).read_bytes()
    (tiny.images_dir / broken[1]).write_bytes(data[: len(data) // 2])  # body cut
    (tiny.images_dir / tiny.images_of["airplane"][0]).unlink()
    args = (tiny.ann_file, tiny.images_dir, ["airplane", "bus"], tmp_path / "x")
    with pytest.raises(DatasetError, match="1 sampled image file.s. missing and 2 unreadable"):
        build_coco(*args, per_class=5, train_per_class=4, size=16)
    out = build_coco(*args, per_class=5, train_per_class=4, size=16, allow_fewer=True)
    manifest = read_manifest(out)
    assert sorted(manifest.report["unreadable"]) == sorted(broken)
    assert manifest.report["missing"] == [tiny.images_of["airplane"][0]]
    assert manifest.total("train") + manifest.total("val") == 10 - 3
    assert len(load_split(out, "train")) + len(load_split(out, "val")) == 7


def test_center_crop_keeps_the_middle_and_stretch_keeps_everything(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)
    wide[:, 20:40] = (0, 255, 0)
    wide[:, 40:] = (0, 0, 255)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    cropped = read_image(tmp_path / "wide.png", 10, "center-crop").astype(int)
    stretched = read_image(tmp_path / "wide.png", 10, "stretch").astype(int)
    assert cropped[:, :, 1].min() > 200 and cropped[:, :, 0].max() < 60
    assert stretched[:, 0, 0].min() > 200 and stretched[:, -1, 2].min() > 200


def test_both_file_namings_are_found(tmp_path):
    tiny = make_tiny_coco(tmp_path / "c14", year="2014")
    assert tiny.images_of["cat"][0].startswith("COCO_train2014_")
    out = build_coco(tiny.ann_file, tiny.images_dir, ["cat", "dog"], tmp_path / "x", **SMALL)
    assert all(n.split("_", 1)[1].startswith("COCO_train2014_") for n in os.listdir(out / "train"))
    # A 2017-named annotation file next to 2014-named images (and the other way round).
    name17 = "000000000009.jpg"
    assert locate_image(tiny.images_dir, name17) == tiny.images_dir / "COCO_train2014_000000000009.jpg"
    images17 = tmp_path / "train2017"
    images17.mkdir()
    shutil.copy(tiny.images_dir / "COCO_train2014_000000000009.jpg", images17 / name17)
    assert locate_image(images17, "COCO_train2014_000000000009.jpg") == images17 / name17
    assert locate_image(images17, "000000999999.jpg") is None


def test_find_coco_knows_the_2014_and_2017_layouts(tmp_path):
    t17 = make_tiny_coco(tmp_path / "r17", year="2017")
    assert find_coco(tmp_path / "r17") == (t17.ann_file, t17.images_dir)
    t14 = make_tiny_coco(tmp_path / "r14", year="2014")
    assert find_coco(tmp_path / "r14") == (t14.ann_file, t14.images_dir)
    with pytest.raises(DatasetError, match="no COCO layout found"):
        find_coco(tmp_path)


def test_coco_classes_lists_every_category_with_image_counts(tiny):
    rows = coco_classes(tiny.ann_file)
    assert [r[1] for r in rows] == sorted(cid for cid, _ in TINY_CATEGORIES.values())
    counts = {name: count for name, _, count in rows}
    assert counts == {name: len(tiny.images_of.get(name, [])) for name in TINY_CATEGORIES}


# --- real data -------------------------------------------------------------------------------

needs_coco128 = pytest.mark.skipif(not COCO128.is_dir(), reason="shared/data/coco128 is not here")


def _holders(ann: dict, name_of=lambda n: n) -> dict[str, set[str]]:
    """class -> file names of images holding it, read straight from the JSON."""
    cat_id = {c["name"]: c["id"] for c in ann["categories"]}
    file_of = {i["id"]: name_of(i["file_name"]) for i in ann["images"]}
    holders: dict[str, set[str]] = {}
    for a in ann["annotations"]:
        for name in REFERENCE_CLASSES:
            if a["category_id"] == cat_id[name]:
                holders.setdefault(name, set()).add(file_of[a["image_id"]])
    return holders


def _check_real_build(out: Path, holders: dict[str, set[str]]) -> None:
    manifest = read_manifest(out)
    assert manifest.classes == list(REFERENCE_CLASSES)
    assert manifest.counts == {"train": dict.fromkeys(REFERENCE_CLASSES, 3), "val": dict.fromkeys(REFERENCE_CLASSES, 1)}
    for split in ("train", "val"):
        for name in os.listdir(out / split):
            cls, coco_name = name.split("_", 1)
            assert coco_name in holders[cls]
            with Image.open(out / split / name) as img:
                assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (64, 64))


@needs_coco128
def test_coco128_reference_classes_2017_layout(tmp_path):
    ann = json.loads((COCO128 / "annotations" / "instances_train2017.json").read_text())
    ann_file, images = find_coco(COCO128)
    out = build_coco(ann_file, images, REFERENCE_CLASSES, tmp_path / "coco5", per_class=4, train_per_class=3)
    _check_real_build(out, _holders(ann))
    assert len(load_split(out, "train")) == 15


@needs_coco128
def test_coco128_renamed_to_the_2014_layout(tmp_path):
    ann = json.loads((COCO128 / "annotations" / "instances_train2017.json").read_text())
    root = tmp_path / "coco2014"
    (root / "annotations").mkdir(parents=True)
    (root / "train2014").mkdir()
    for image in ann["images"]:
        new_name = f"COCO_train2014_{image['file_name']}"
        os.symlink(COCO128 / "train2017" / image["file_name"], root / "train2014" / new_name)
        image["file_name"] = new_name
    (root / "annotations" / "instances_train2014.json").write_text(json.dumps(ann))
    ann_file, images = find_coco(root)
    assert ann_file.name == "instances_train2014.json" and images.name == "train2014"
    out = build_coco(ann_file, images, REFERENCE_CLASSES, tmp_path / "coco5", per_class=4, train_per_class=3)
    _check_real_build(out, _holders(ann))
    assert all("_COCO_train2014_" in n for n in os.listdir(out / "train"))
