"""Run configuration: data, model and training settings as dataclasses.

- ``schema``: the sections, their fields with defaults and docs, the choice lists and limits.
- ``parsing``: values from ``--set`` and forms, nested dicts, TOML text and files.
- ``validation``: ``field_errors`` lists every problem with the field it belongs to (the TUI
  shows them next to the field); ``validate`` raises the first.

The names below are the package's public ones; the rest of the program imports them from here.
"""

from __future__ import annotations

from .parsing import (
    apply_overrides,
    coerce,
    config_diff,
    dumps,
    from_dict,
    get_value,
    load,
    loads,
    save,
    to_dict,
    with_value,
)
from .schema import (
    CHOICES,
    MAX_IMAGE_SIZE,
    MAX_PARAMETERS,
    MAX_SEED,
    ConfigError,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    all_keys,
    field_doc,
)
from .validation import field_errors, validate

__all__ = [
    "CHOICES",
    "MAX_IMAGE_SIZE",
    "MAX_PARAMETERS",
    "MAX_SEED",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "all_keys",
    "apply_overrides",
    "coerce",
    "config_diff",
    "dumps",
    "field_doc",
    "field_errors",
    "from_dict",
    "get_value",
    "load",
    "loads",
    "save",
    "to_dict",
    "validate",
    "with_value",
]
