"""The offline demo set: deterministic, balanced, and not answerable from colour alone."""

from __future__ import annotations

import pytest
import torch
from data_fixtures import tree_entries
from sklearn.linear_model import LogisticRegression

from vit_tui.data.demo import DEMO_CLASSES, demo_dir, ensure_demo, make_demo
from vit_tui.data.store import DatasetError, load_split, read_manifest


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo(tmp_path_factory.mktemp("demo") / "demo", per_class_train=40, per_class_val=10, seed=3)


def test_demo_has_five_balanced_classes_of_64px_rgb(demo):
    manifest = read_manifest(demo)
    assert manifest.classes == list(DEMO_CLASSES) and manifest.image_size == 64 and manifest.seed == 3
    assert manifest.counts == {"train": dict.fromkeys(DEMO_CLASSES, 40), "val": dict.fromkeys(DEMO_CLASSES, 10)}
    train = load_split(demo, "train")
    assert train.images.shape == (200, 64, 64, 3)
    assert torch.bincount(train.labels).tolist() == [40] * 5
    assert all(name.startswith(DEMO_CLASSES[label] + "_") for name, label in zip(train.files, train.labels))


def test_same_seed_same_pictures_other_seed_other_pictures(demo, tmp_path):
    again = make_demo(tmp_path / "again", per_class_train=40, per_class_val=10, seed=3, workers=1)
    other = make_demo(tmp_path / "other", per_class_train=40, per_class_val=10, seed=4, workers=1)
    first, second, third = (load_split(d, "val") for d in (demo, again, other))
    assert first.files == second.files and torch.equal(first.images, second.images)
    assert not torch.equal(first.images, third.images)
    for name in first.files:  # the files themselves are byte for byte the same
        assert (demo / "val" / name).read_bytes() == (again / "val" / name).read_bytes()


def test_train_and_val_pictures_differ(demo):
    train = load_split(demo, "train").images.flatten(1)
    val = load_split(demo, "val").images.flatten(1)
    assert not any(bool((train == row).all(1).any()) for row in val)


def test_colour_statistics_alone_do_not_solve_it(demo):
    """Mean and spread of each colour channel: a linear model stays near chance (20%)."""
    train, val = load_split(demo, "train"), load_split(demo, "val")

    def features(images):
        x = images.float().flatten(1, 2)  # (N, H*W, 3)
        return torch.cat([x.mean(1), x.std(1)], 1).numpy()

    model = LogisticRegression(max_iter=2000).fit(features(train.images), train.labels.numpy())
    accuracy = (model.predict(features(val.images)) == val.labels.numpy()).mean()
    assert accuracy < 0.45


def test_ensure_demo_builds_once_under_home(tmp_path):
    path = ensure_demo(tmp_path, per_class_train=2, per_class_val=1)
    assert path == demo_dir(tmp_path) == tmp_path / "data" / "demo"
    assert read_manifest(path).total("train") == 10
    stamp = (path / "manifest.json").stat().st_mtime_ns
    assert ensure_demo(tmp_path) == path
    assert (path / "manifest.json").stat().st_mtime_ns == stamp


def test_bad_demo_sizes_are_refused(tmp_path):
    with pytest.raises(DatasetError, match="at least 1"):
        make_demo(tmp_path / "d", per_class_train=0)
    with pytest.raises(DatasetError, match="16 or more"):
        make_demo(tmp_path / "d", size=8)
    assert tree_entries(tmp_path) == []
