"""Config: TOML round trip, overrides, validation messages that name the field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vit_tui.config import (
    ConfigError,
    RunConfig,
    all_keys,
    apply_overrides,
    dumps,
    field_doc,
    field_errors,
    load,
    loads,
    save,
    validate,
)
from vit_tui.presets import PRESETS, preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_and_round_trips_through_toml(name: str, tmp_path: Path) -> None:
    cfg = validate(preset(name))
    save(cfg, tmp_path / "config.toml")
    assert load(tmp_path / "config.toml") == cfg
    assert cfg.preset == name


def test_reference_preset_is_the_course_table() -> None:
    cfg = preset("reference")
    m, t = cfg.model, cfg.train
    assert (m.heads, m.blocks, m.embed_dim, m.image_size, m.patch_size) == (5, 3, 100, 64, 16)
    assert (m.attention, m.ffn) == ("dlstudio", "flattened")
    assert (t.optimizer, t.lr, t.betas, t.batch_size, t.epochs, t.seed) == ("adam", 2e-4, (0.9, 0.999), 16, 20, 1)
    assert t.keep == "best" and t.deterministic and t.augment == "none"
    assert preset("reference-einsum").model.attention == "einsum"


def test_overrides_coerce_types_and_booleans_are_not_truthy_strings() -> None:
    cfg = apply_overrides(
        RunConfig(),
        ["model.heads=4", "model.embed_dim=64", "train.lr=1e-3", "train.compile=False", "train.betas=0.8,0.95"],
    )
    assert cfg.model.heads == 4 and cfg.model.embed_dim == 64
    assert cfg.train.lr == 1e-3
    assert cfg.train.compile is False
    assert cfg.train.betas == (0.8, 0.95)
    assert apply_overrides(cfg, ["train.compile=yes"]).train.compile is True


@pytest.mark.parametrize(
    ("override", "field", "words"),
    [
        ("model.hedas=3", "model.hedas", "did you mean model.heads"),
        ("model.heads=two", "model.heads", "whole number"),
        ("train.compile=maybe", "train.compile", "true or false"),
        ("train.betas=0.9", "train.betas", "two numbers"),
        ("heads", "heads", "section.key=value"),
    ],
)
def test_bad_overrides_name_the_field(override: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [override])
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"model.embed_dim": 100, "model.heads": 3}, "model.embed_dim", "not divisible by heads"),
        ({"model.image_size": 64, "model.patch_size": 10}, "model.patch_size", "does not divide"),
        ({"model.blocks": 0}, "model.blocks", "positive"),
        ({"model.image_size": -8}, "model.image_size", "positive"),
        ({"train.epochs": 0}, "train.epochs", "positive"),
        ({"train.batch_size": -1}, "train.batch_size", "positive"),
        ({"train.lr": 0.0}, "train.lr", "positive"),
        ({"model.attention": "flash"}, "model.attention", "dlstudio, einsum, mha"),
        ({"model.attention": "sdpa"}, "model.attention", "use mha"),
        ({"model.ffn": "mpl"}, "model.ffn", "did you mean mlp"),
        ({"model.pool": "avg"}, "model.pool", "token, mean"),
        ({"model.attention": "dlstudio", "model.pool": "mean"}, "model.pool", "model.attention=mha"),
        ({"model.attention": "einsum", "model.pool": "mean"}, "model.pool", "model.pool=token"),
        ({"train.betas": "0.9,1.0"}, "train.betas", "[0, 1)"),
        ({"train.betas": "-0.1,0.9"}, "train.betas", "[0, 1)"),
        ({"train.optimizer": "lamb"}, "train.optimizer", "adam"),
        ({"train.device": "gpu"}, "train.device", "cuda"),
        ({"model.dropout": 1.0}, "model.dropout", "[0, 1)"),
    ],
)
def test_validate_names_field_and_reason(changes: dict, field: str, words: str) -> None:
    cfg = apply_overrides(RunConfig(), [f"{k}={v}" for k, v in changes.items()])
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert info.value.field == field
    assert words in info.value.why


def test_field_errors_lists_every_problem() -> None:
    cfg = apply_overrides(RunConfig(), ["model.heads=3", "train.epochs=0", "train.lr=-1"])
    fields = {e.field for e in field_errors(cfg)}
    assert fields == {"model.embed_dim", "train.epochs", "train.lr"}


def test_toml_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        loads("[model\nheads=")
    with pytest.raises(ConfigError, match="unknown section"):
        loads("[modle]\nheads = 4\n")
    with pytest.raises(ConfigError, match="did you mean model.heads"):
        loads("[model]\nhead = 4\n")


def test_saved_toml_is_readable_and_complete() -> None:
    text = dumps(replace(preset("fast"), preset="fast"))
    for key in all_keys():
        section, name = key.split(".")
        assert f"\n{name} = " in text.split(f"[{section}]")[1]


def test_every_field_has_a_docstring() -> None:
    assert all(field_doc(key) for key in all_keys())
