"""``vit-tui model summary`` as a user runs it."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vit_tui", *args], capture_output=True, text=True, env={"COLUMNS": "120", "PATH": ""}
    )


def test_reference_summary_shows_the_exact_parameter_count() -> None:
    out = _run("model", "summary", "--preset", "reference")
    assert out.returncode == 0, out.stderr
    assert "39,993,005" in out.stdout
    assert "sequence length 17" in out.stdout
    assert "MFLOP per image" in out.stdout


def test_einsum_summary() -> None:
    out = _run("model", "summary", "--preset", "reference-einsum")
    assert "34,793,705" in out.stdout


def test_bad_setting_is_one_line_naming_the_field_and_exit_2() -> None:
    out = _run("model", "summary", "--set", "model.heads=3")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "model.embed_dim" in lines[0] and "Traceback" not in out.stderr


def test_unknown_key_suggests_the_right_one() -> None:
    out = _run("model", "summary", "--set", "model.embed=64")
    assert out.returncode == 2
    assert "did you mean model.embed_dim" in out.stderr


def test_mean_pooling_summary_has_no_class_token() -> None:
    out = _run("model", "summary", "--preset", "fast", "--set", "model.pool=mean")
    assert out.returncode == 0, out.stderr
    assert "(16 patches, no class token)" in out.stdout
    assert "sequence length 16" in out.stdout
