"""Checking a config: every problem named by its field, found before anything is built.

``field_errors`` lists them all in form order (the TUI shows each next to its field);
``validate`` raises the first. The model's size is checked by arithmetic alone, so a config
that would hang or exhaust memory while building is refused at once.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
from collections.abc import Iterator
from dataclasses import replace

from ..data.augment_names import POLICY_BINS
from ..model.size_estimate import estimate_parameters, is_cnn
from ..sizes import SIZE_EXAMPLES, parse_size
from .schema import (
    CHOICES,
    INIT_FILE_SUFFIXES,
    MAX_CNN_WIDTH,
    MAX_IMAGE_SIZE,
    MAX_PARAMETERS,
    MAX_SEED,
    PRETRAINED_EXTRA,
    TRACKERS,
    TRACKERS_EXTRA,
    ConfigError,
    ModelConfig,
    RunConfig,
    TrainConfig,
)


def field_errors(cfg: RunConfig) -> list[ConfigError]:
    """Every problem in the config, each naming its field."""
    errors: list[ConfigError] = []
    if not cfg.data.dataset.strip():
        errors.append(ConfigError("data.dataset", "is empty; give a dataset folder"))
    if is_cnn(cfg.model):  # a CNN ignores the ViT's settings (VIT_ONLY_KEYS), so they are not checked
        errors += _cnn_errors(cfg.model)
    else:
        errors += _model_shape_errors(cfg.model)
        errors += _model_layout_errors(cfg.model)
        errors += _drop_path_errors(cfg.model)
        errors += _init_errors(cfg.model)
    if not errors:  # the estimate needs a model that is otherwise sound
        errors += _size_errors(cfg.model)
    errors += _train_number_errors(cfg.train)
    errors += _train_choice_errors(cfg.train)
    errors += _train_regularisation_errors(cfg.train)
    errors += _train_environment_errors(cfg.train)
    return errors


def validate(cfg: RunConfig) -> RunConfig:
    """Raise the first ``ConfigError`` found; return the config when it is sound."""
    errors = field_errors(cfg)
    if errors:
        raise errors[0]
    return cfg


# --- the model --------------------------------------------------------------------------------


def _cnn_errors(m: ModelConfig) -> Iterator[ConfigError]:
    """The architecture's name, the image side and the CNN's width."""
    yield from _choice("model.arch", m.arch)
    if not 0 < m.image_size <= MAX_IMAGE_SIZE:
        yield ConfigError("model.image_size", f"must be between 1 and {MAX_IMAGE_SIZE} pixels, got {m.image_size}")
    if not 1 <= m.width <= MAX_CNN_WIDTH:
        yield ConfigError("model.width", f"must be between 1 and {MAX_CNN_WIDTH} channels (64 is torchvision's), got {m.width}")


def _model_shape_errors(m: ModelConfig) -> Iterator[ConfigError]:
    """Sizes that must be positive, bounded, and divide one another."""
    for key in ("image_size", "patch_size", "embed_dim", "heads", "blocks"):
        if not getattr(m, key) > 0:
            yield ConfigError(f"model.{key}", f"must be positive, got {getattr(m, key)}")
    if m.image_size > MAX_IMAGE_SIZE:
        yield ConfigError("model.image_size", f"must be at most {MAX_IMAGE_SIZE} pixels, got {m.image_size}")
    if m.image_size > 0 and m.patch_size > 0 and m.image_size % m.patch_size:
        yield ConfigError(
            "model.patch_size", f"{m.patch_size} does not divide image_size {m.image_size}; pick a divisor"
        )
    if m.embed_dim > 0 and m.heads > 0 and m.embed_dim % m.heads:
        yield ConfigError(
            "model.embed_dim", f"{m.embed_dim} is not divisible by heads {m.heads}; pick a multiple of heads"
        )


def _model_layout_errors(m: ModelConfig) -> Iterator[ConfigError]:
    """Choices, and the combinations only the standard (mha) layout supports."""
    if m.attention == "sdpa":
        # Earlier versions had an sdpa choice; its successor is the standard attention.
        yield ConfigError(
            "model.attention", "sdpa is no longer a choice; use mha (the standard attention, run with the fused kernel)"
        )
    else:
        yield from _choice("model.attention", m.attention)
    yield from _choice("model.ffn", m.ffn)
    yield from _choice("model.pool", m.pool)
    # The reference layouts (dlstudio, einsum) always prepend a class token and classify from it.
    if m.pool == "mean" and m.attention != "mha":
        yield ConfigError(
            "model.pool",
            f"mean pooling needs attention mha, not {m.attention}; set model.attention=mha or model.pool=token",
        )
    yield from _choice("model.stem", m.stem)
    if m.stem == "conv" and m.attention != "mha":
        yield ConfigError(
            "model.stem",
            f"the conv stem needs attention mha, not {m.attention}; set model.attention=mha or model.stem=patch",
        )
    if m.stem == "conv" and not _is_power_of_two(m.patch_size):
        yield ConfigError(
            "model.stem",
            f"the conv stem halves the image per layer, so patch_size must be a power of two, not {m.patch_size}",
        )
    if not m.mlp_ratio > 0:
        yield ConfigError("model.mlp_ratio", f"must be positive, got {m.mlp_ratio}")
    if not 0 <= m.dropout < 1:
        yield ConfigError("model.dropout", f"must be in [0, 1), got {m.dropout}")


def _drop_path_errors(m: ModelConfig) -> Iterator[ConfigError]:
    if not 0 <= m.drop_path < 1:
        yield ConfigError("model.drop_path", f"must be in [0, 1), got {m.drop_path}")
    elif m.drop_path > 0 and m.attention != "mha":
        # The reference layouts reproduce the course model, which has no stochastic depth.
        yield ConfigError(
            "model.drop_path", f"stochastic depth is in the mha blocks only, not {m.attention}; set model.drop_path=0"
        )


def _init_errors(m: ModelConfig) -> Iterator[ConfigError]:
    """``model.init``: its form, the layout timm's ViT weights fit, and timm being installed."""
    init = m.init.strip()
    if init == "none":
        return
    if init.startswith("timm:"):
        if not init[len("timm:") :].strip():
            yield ConfigError("model.init", "timm: needs a model name, e.g. timm:vit_tiny_patch16_224.augreg_in21k")
            return
    elif not init.lower().endswith(INIT_FILE_SUFFIXES):
        yield ConfigError(
            "model.init",
            f"{init!r} is neither none, timm:<name> nor a weights file ({', '.join(INIT_FILE_SUFFIXES)})",
        )
        return
    layout = {
        "attention": ("mha", m.attention),
        "stem": ("patch", m.stem),
        "ffn": ("mlp", m.ffn),
        "pool": ("token", m.pool),
    }
    for key, (needed, value) in layout.items():
        if value != needed:
            yield ConfigError(
                "model.init",
                f"timm ViT weights load into model.{key}={needed}, not {value}; set model.{key}={needed} or model.init=none",
            )
            return
    if importlib.util.find_spec("timm") is None:
        yield ConfigError("model.init", f"loading weights needs timm; run {PRETRAINED_EXTRA} or set model.init=none")


def _size_errors(m: ModelConfig) -> Iterator[ConfigError]:
    """Refuse a model too large to train, from the arithmetic alone (building it could hang or run out of memory)."""
    params = estimate_parameters(m)
    if params <= MAX_PARAMETERS:
        return
    # Blame the depth when a single block fits; otherwise the width (with the flattened
    # feed-forward also the number of patches) is what makes each block too big.
    one_block = estimate_parameters(replace(m, blocks=1))
    key = "model.blocks" if m.blocks > 1 and one_block <= MAX_PARAMETERS else "model.embed_dim"
    fix = "use fewer model.blocks" if key == "model.blocks" else "use a smaller model.embed_dim"
    if m.ffn == "flattened" and key == "model.embed_dim":
        fix += " or fewer patches (a larger model.patch_size or smaller model.image_size)"
    yield ConfigError(
        key,
        f"the model would have about {params:,} parameters ({params * 4 / 1e9:,.1f} GB of weights), more than "
        f"the {MAX_PARAMETERS:,} allowed; {fix}",
    )


# --- training ---------------------------------------------------------------------------------


def _train_number_errors(t: TrainConfig) -> Iterator[ConfigError]:
    """Counts that must be positive and rates that must lie in their range."""
    for key in ("epochs", "batch_size", "eval_batch_size"):
        if not getattr(t, key) > 0:
            yield ConfigError(f"train.{key}", f"must be positive, got {getattr(t, key)}")
    if not (t.lr > 0 and math.isfinite(t.lr)):
        yield ConfigError("train.lr", f"must be a positive number, got {t.lr}")
    if not all(0 <= b < 1 for b in t.betas):
        yield ConfigError("train.betas", f"each beta must be in [0, 1), got {t.betas}")
    if not t.weight_decay >= 0:
        yield ConfigError("train.weight_decay", f"must be >= 0, got {t.weight_decay}")
    if not t.warmup_epochs >= 0:
        yield ConfigError("train.warmup_epochs", f"must be >= 0, got {t.warmup_epochs}")
    if not 0 <= t.label_smoothing < 1:
        yield ConfigError("train.label_smoothing", f"must be in [0, 1), got {t.label_smoothing}")
    if not t.grad_clip >= 0:
        yield ConfigError("train.grad_clip", f"must be >= 0 (0 = off), got {t.grad_clip}")


def _train_choice_errors(t: TrainConfig) -> Iterator[ConfigError]:
    for name in ("optimizer", "schedule", "augment", "policy", "precision", "keep", "cuda_graph"):
        yield from _choice(f"train.{name}", getattr(t, name))


def _train_regularisation_errors(t: TrainConfig) -> Iterator[ConfigError]:
    """The policy magnitude, mixing alphas and erasing probability."""
    if not 0 <= t.policy_magnitude < POLICY_BINS:
        yield ConfigError("train.policy_magnitude", f"must be a bin between 0 and {POLICY_BINS - 1}, got {t.policy_magnitude}")
    for key in ("mixup", "cutmix"):
        value = getattr(t, key)
        if not (value >= 0 and math.isfinite(value)):
            yield ConfigError(f"train.{key}", f"must be a Beta alpha >= 0 (0 = off), got {value}")
    if not 0 <= t.random_erasing <= 1:
        yield ConfigError("train.random_erasing", f"must be a probability in [0, 1], got {t.random_erasing}")


def _train_environment_errors(t: TrainConfig) -> Iterator[ConfigError]:
    """Seed, device, trackers and memory budget: what the run asks of the machine."""
    if not 0 <= t.seed <= MAX_SEED:
        yield ConfigError("train.seed", f"must be between 0 and 2**63 - 1 ({MAX_SEED}), got {t.seed}")
    if not _device_ok(t.device):
        yield ConfigError("train.device", f"unknown device {t.device!r}; use auto, cpu, cuda, cuda:N or mps")
    yield from _tracker_errors(t.log_to)
    if not _budget_ok(t.data_memory_budget):
        yield ConfigError(
            "train.data_memory_budget", f"cannot read {t.data_memory_budget!r} as a size; use auto, {SIZE_EXAMPLES}"
        )


def _tracker_errors(names: tuple[str, ...]) -> Iterator[ConfigError]:
    """The first unknown, repeated or uninstalled tracker in ``train.log_to`` (found without importing it)."""
    for i, name in enumerate(names):
        if name not in TRACKERS:
            close = difflib.get_close_matches(name, TRACKERS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield ConfigError("train.log_to", f"unknown tracker {name!r}{hint}; choose from {', '.join(TRACKERS)}")
            return
        if name in names[:i]:
            yield ConfigError("train.log_to", f"lists {name} twice; name each tracker once")
            return
        if importlib.util.find_spec(name) is None:
            yield ConfigError(
                "train.log_to", f"{name} is not installed; run {TRACKERS_EXTRA} or remove {name} from train.log_to"
            )
            return


# --- small checks -----------------------------------------------------------------------------


def _choice(key: str, value: str) -> Iterator[ConfigError]:
    options = CHOICES[key]
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        yield ConfigError(key, f"unknown value {value!r}{hint}; choose one of {', '.join(options)}")


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def _device_ok(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


def _budget_ok(budget: str) -> bool:
    if budget == "auto":
        return True
    try:
        parse_size(budget)
    except ValueError:
        return False
    return True
