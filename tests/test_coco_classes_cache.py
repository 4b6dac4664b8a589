"""COCO-scale class lists: counts on a generated train2017-shaped file, and the per-file count cache.

The cache must serve an unchanged file without parsing it (shown by the returned flag, by timing
and by a file whose bytes were replaced behind an unchanged size and mtime), and must notice any
change of size or mtime.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from coco_scale import CATEGORY_IDS, category_name, write_coco_scale

from vit_tui.data.coco import CLASS_CACHE_ENV, class_cache_path, coco_class_counts, coco_classes
from vit_tui.data.coco import index as coco_index

IMAGES, ANNOTATIONS = 4_000, 30_000
CACHED_NOTE = "counts from the cache"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CLASS_CACHE_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[int, int]]:
    path = tmp_path_factory.mktemp("coco") / "instances_train2017.json"
    return path, write_coco_scale(path, IMAGES, ANNOTATIONS)


def fresh_process_view() -> None:
    """Forget the parsed file kept in memory, as a new process (the next app session) would."""
    coco_index._load_coco_cached.cache_clear()


def expected_rows(counts: dict[int, int]) -> list[tuple[str, int, int]]:
    return [(category_name(cat_id), cat_id, counts[cat_id]) for cat_id in CATEGORY_IDS]


def test_generated_file_is_valid_coco_with_known_counts(generated, cache_dir):
    path, counts = generated
    raw = json.loads(path.read_text())
    assert len(raw["images"]) == IMAGES and len(raw["annotations"]) == ANNOTATIONS and len(raw["categories"]) == 80
    fresh_process_view()
    assert coco_classes(path) == expected_rows(counts)
    assert counts[1] > counts[90] > 0  # skewed like COCO, every class present


def test_second_open_is_served_from_the_cache(generated, cache_dir):
    path, counts = generated
    fresh_process_view()
    started = time.perf_counter()
    first = coco_class_counts(path)
    first_s = time.perf_counter() - started
    assert not first.cached and class_cache_path().is_file()

    fresh_process_view()
    started = time.perf_counter()
    second = coco_class_counts(path)
    second_s = time.perf_counter() - started
    assert second.cached and second.rows == first.rows == expected_rows(counts)
    assert second_s < min(1.0, first_s / 4), (first_s, second_s)


def test_a_changed_file_is_read_again(tmp_path, cache_dir):
    path = tmp_path / "instances.json"
    write_coco_scale(path, 300, 2_000, seed=1)
    before = coco_class_counts(path)
    counts = write_coco_scale(path, 300, 1_000, seed=2)  # new size and mtime
    after = coco_class_counts(path)
    assert not after.cached and after.rows == expected_rows(counts) != before.rows
    assert coco_class_counts(path).cached


def test_a_damaged_cache_is_ignored_and_rewritten(generated, cache_dir):
    path, counts = generated
    cache_dir.mkdir()
    class_cache_path().write_text('{"version": 1, "files": [{"path": 3}]')  # cut short
    fresh_process_view()
    got = coco_class_counts(path)
    assert not got.cached and got.rows == expected_rows(counts)
    assert json.loads(class_cache_path().read_text())["files"][0]["path"] == str(path)


def run_classes(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vit_tui", "data", "classes", "--coco-ann", str(path)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def test_cli_lists_from_the_cache_without_parsing_until_the_file_changes(tmp_path):
    path = tmp_path / "instances.json"
    counts = write_coco_scale(path, 500, 3_000, seed=3)
    env = {**os.environ, CLASS_CACHE_ENV: str(tmp_path / "cache"), "COLUMNS": "120"}
    first = run_classes(path, env)
    assert first.returncode == 0 and CACHED_NOTE not in first.stdout
    assert f"{counts[1]:,}" in first.stdout and category_name(90) in first.stdout
    second = run_classes(path, env)
    assert second.returncode == 0 and CACHED_NOTE in second.stdout
    assert second.stdout.startswith(first.stdout.rstrip("\n"))  # the same table, then the note

    # Same size and mtime, other bytes: listed from the cache, so the file was not parsed.
    stat = path.stat()
    path.write_bytes(b"x" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    unparsed = run_classes(path, env)
    assert unparsed.returncode == 0 and CACHED_NOTE in unparsed.stdout and f"{counts[1]:,}" in unparsed.stdout

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # touched: read again
    refused = run_classes(path, env)
    assert refused.returncode == 2 and refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}: is not valid JSON" in lines[0]
