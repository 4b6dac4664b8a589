"""Run configuration: data, model and training settings as dataclasses.

One set of key names is shared by TOML files, ``--set section.key=value`` overrides,
the TUI form and the docs. ``field_errors`` lists every problem with the field it
belongs to (the TUI shows them next to the field); ``validate`` raises the first one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import files
from .errors import UserError
from .sizes import SIZE_EXAMPLES, parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ATTENTIONS = ("dlstudio", "einsum", "mha")
FFNS = ("flattened", "mlp")
POOLS = ("token", "mean")
STEMS = ("patch", "conv")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16")
AUGMENTS = ("none", "flip", "flip-crop", "flip-resized-crop")
KEEPS = ("best", "last")
CUDA_GRAPH_MODES = ("auto", "off")
TRACKERS = ("tensorboard", "wandb")
TRACKERS_EXTRA = "pip install 'vit-tui[trackers]'"
MAX_IMAGE_SIZE = 1024
"""The largest image side: datasets, the model and previews all hold whole images in memory."""
MAX_SEED = 2**63 - 1
"""torch takes seeds up to 2**64 - 1; the run also seeds a generator with seed + 1 and numpy with seed mod 2**32."""
MAX_PARAMETERS = 2_000_000_000
"""The most parameters a config may describe: 8 GB of float32 weights, about 32 GB with the
gradients and Adam's two moments. It is checked from the config alone, before anything is built."""


class ConfigError(UserError, ValueError):
    """A bad setting: ``field`` is the dotted key (``model.heads``), ``why`` says what to do."""

    def __init__(self, field_name: str, why: str) -> None:
        super().__init__(field_name, why)
        self.field = field_name


@dataclass
class DataConfig:
    """Which dataset a run trains on."""

    dataset: str = "data/demo"
    """Dataset folder (made by ``vit-tui data build|import|demo``)."""


@dataclass
class ModelConfig:
    """Shape of the Vision Transformer."""

    image_size: int = 64
    """Input side in pixels; images are square."""
    patch_size: int = 16
    """Patch side in pixels; must divide image_size."""
    embed_dim: int = 100
    """Embedding size E; must be divisible by heads."""
    heads: int = 5
    """Attention heads H."""
    blocks: int = 3
    """Encoder blocks."""
    attention: str = "dlstudio"
    """dlstudio (the reference, faithful), einsum (the course listing, faithful), mha (standard ViT, fused kernel)."""
    pool: str = "token"
    """token: classify from the class token; mean: average the patch tokens (no class token). mha only."""
    stem: str = "patch"
    """patch: one strided Conv2d per patch; conv: 3x3 stride-2 convolutions down to the patch grid. mha only."""
    ffn: str = "flattened"
    """flattened (the reference's L*E -> 2*L*E -> L*E) or mlp (per token)."""
    mlp_ratio: float = 4.0
    """Hidden size of the per-token MLP as a multiple of embed_dim."""
    dropout: float = 0.0
    """Dropout probability after attention and inside the feed-forward part."""


@dataclass
class TrainConfig:
    """How a run trains."""

    epochs: int = 20
    """Passes over the training split."""
    batch_size: int = 16
    """Images per optimizer step."""
    optimizer: str = "adam"
    """adam, adamw or sgd (momentum 0.9)."""
    lr: float = 2e-4
    """Peak learning rate."""
    betas: tuple[float, float] = (0.9, 0.999)
    """Adam/AdamW betas, each in [0, 1)."""
    weight_decay: float = 0.0
    """Weight decay (decoupled for adamw)."""
    schedule: str = "constant"
    """constant, or cosine (linear warm-up then cosine decay)."""
    warmup_epochs: float = 0.0
    """Linear warm-up length in epochs (cosine schedule)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing in [0, 1)."""
    grad_clip: float = 0.0
    """Clip the gradient norm to this value; 0 turns clipping off."""
    augment: str = "none"
    """none, flip, flip-crop (padded crop) or flip-resized-crop; runs on the device."""
    precision: str = "auto"
    """auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16."""
    compile: bool = False
    """Wrap the model in torch.compile."""
    cuda_graph: str = "off"
    """off (default, the tested path): eager steps; auto: replay each step as a captured CUDA graph (CUDA, Adam/AdamW)."""
    seed: int = 1
    """Seed for python, numpy and torch."""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps."""
    deterministic: bool = True
    """Deterministic algorithms (same config, same metrics on CPU)."""
    keep: str = "best"
    """Checkpoint evaluated and exported: best (by validation accuracy) or last."""
    eval_batch_size: int = 512
    """Images per forward pass when evaluating."""
    log_to: tuple[str, ...] = ()
    """Trackers fed while training: tensorboard (runs/<name>/tb/), wandb (offline unless WANDB_MODE is set)."""
    data_memory_budget: str = "auto"
    """auto (half the free device memory) or a size like 2GiB: a larger train split is streamed from disk."""


@dataclass
class RunConfig:
    """Everything one training run needs; saved as ``config.toml`` in its run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""
    """Name of the preset this config started from, if any."""


SECTIONS = ("data", "model", "train")


def section_fields(section: str) -> list[dataclasses.Field]:
    """The dataclass fields of one section (``data``, ``model`` or ``train``)."""
    return list(fields(type(getattr(RunConfig(), section))))


def all_keys() -> list[str]:
    """Every dotted key, e.g. ``model.heads``."""
    return [f"{s}.{f.name}" for s in SECTIONS for f in section_fields(s)]


def field_doc(key: str) -> str:
    """The docstring written under a config field (read from this module's source)."""
    return _FIELD_DOCS.get(key, "")


def _read_field_docs() -> dict[str, str]:
    import ast

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    names = {"DataConfig": "data", "ModelConfig": "model", "TrainConfig": "train"}
    docs: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in names:
            body = node.body
            for stmt, nxt in zip(body, body[1:]):
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)
                ):
                    docs[f"{names[node.name]}.{stmt.target.id}"] = nxt.value.value
    return docs


_FIELD_DOCS = _read_field_docs()


# --- parsing values -------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _field_type(section: str, name: str) -> Any:
    hints = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}[section]
    import typing

    return typing.get_type_hints(hints)[name]


def coerce(key: str, value: Any) -> Any:
    """Turn ``value`` (a string from ``--set`` or a form, or a TOML value) into the key's type."""
    section, name = _split_key(key)
    kind = _field_type(section, name)
    try:
        return _coerce_to(kind, value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"cannot read {value!r} as {_type_name(kind)}") from None


def _type_name(kind: Any) -> str:
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number"
    if kind is float:
        return "a number"
    if kind is str:
        return "text"
    if kind == tuple[str, ...]:
        return "names separated by commas"
    return "two numbers like 0.9,0.999"


def _coerce_to(kind: Any, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(value)
    if kind is int:
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(value)
            return int(value)
        return int(str(value).strip().replace("_", ""))
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(str(value).strip()) if isinstance(value, str) else float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value.strip()
    if kind == tuple[str, ...]:
        return _names(value)
    # tuple[float, float]
    items = value
    if isinstance(value, str):
        items = [v for v in value.strip().strip("()[]").split(",") if v.strip()]
    items = tuple(float(v) for v in items)
    if len(items) != 2:
        raise ValueError(value)
    return items


def _names(value: Any) -> tuple[str, ...]:
    """A list of names from TOML, or from text like ``a,b`` (quotes and brackets, as a form shows them, allowed)."""
    items = value.strip().strip("()[]").split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError(value)
    return tuple(name for name in (v.strip().strip("'\"").strip() for v in items) if name)


def _split_key(key: str) -> tuple[str, str]:
    section, _, name = key.partition(".")
    if section not in SECTIONS or name not in {f.name for f in section_fields(section)}:
        close = difflib.get_close_matches(key, all_keys(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known keys: {', '.join(all_keys())}"
        raise ConfigError(key, "unknown setting" + hint)
    return section, name


# --- building configs ---------------------------------------------------------------------


def with_value(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    """A copy of ``cfg`` with one dotted key set (value coerced to the key's type)."""
    section, name = _split_key(key)
    new_section = replace(getattr(cfg, section), **{name: coerce(key, value)})
    return replace(cfg, **{section: new_section})


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings in order."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(item.strip() or "--set", "expected section.key=value, e.g. model.heads=4")
        cfg = with_value(cfg, key.strip(), value)
    return cfg


def from_dict(raw: dict[str, Any]) -> RunConfig:
    """Build a config from nested dicts (as read from TOML); unknown keys are errors."""
    cfg = RunConfig()
    for top, value in raw.items():
        if top == "preset":
            cfg = replace(cfg, preset=str(value))
            continue
        if top not in SECTIONS or not isinstance(value, dict):
            raise ConfigError(top, f"unknown section; expected one of {', '.join(SECTIONS)} or preset")
        for name, item in value.items():
            cfg = with_value(cfg, f"{top}.{name}", item)
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Nested plain dicts (tuples become lists), the shape written to TOML."""
    out: dict[str, Any] = {"preset": cfg.preset}
    for section in SECTIONS:
        out[section] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(cfg, section)).items()
        }
    return out


def get_value(cfg: RunConfig, key: str) -> Any:
    """The value of one dotted key."""
    section, name = _split_key(key)
    return getattr(getattr(cfg, section), name)


# --- TOML ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(cfg: RunConfig) -> str:
    """The config as TOML text, one table per section."""
    data = to_dict(cfg)
    lines = [f"preset = {_toml_value(data['preset'])}", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[section].items()]
        lines.append("")
    return "\n".join(lines)


def loads(text: str, source: str = "config") -> RunConfig:
    """Parse TOML text into a config."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML ({exc})") from None
    except RecursionError:
        # The parser recurses once per nested array or inline table; no config nests more than two.
        raise ConfigError(source, "not valid TOML (nested too deep: arrays or tables inside one another)") from None
    return from_dict(raw)


def load(path: str | os.PathLike) -> RunConfig:
    """Read a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "config file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read config file ({exc})") from None
    return loads(text, source=str(path))


def save(cfg: RunConfig, path: str | os.PathLike) -> None:
    """Write the config as TOML atomically (temp file, then rename)."""
    atomic_write_text(Path(path), dumps(cfg))


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` all or nothing (see ``vit_tui.files``)."""
    files.write_text(path, text)


# --- validation ---------------------------------------------------------------------------


def field_errors(cfg: RunConfig) -> list[ConfigError]:
    """Every problem in the config, each naming its field."""
    m, t = cfg.model, cfg.train
    errors: list[ConfigError] = []

    def need(ok: bool, key: str, why: str) -> None:
        if not ok:
            errors.append(ConfigError(key, why))

    if not cfg.data.dataset.strip():
        errors.append(ConfigError("data.dataset", "is empty; give a dataset folder"))
    for key in ("image_size", "patch_size", "embed_dim", "heads", "blocks"):
        need(getattr(m, key) > 0, f"model.{key}", f"must be positive, got {getattr(m, key)}")
    need(
        m.image_size <= MAX_IMAGE_SIZE,
        "model.image_size",
        f"must be at most {MAX_IMAGE_SIZE} pixels, got {m.image_size}",
    )
    if m.image_size > 0 and m.patch_size > 0:
        need(
            m.image_size % m.patch_size == 0,
            "model.patch_size",
            f"{m.patch_size} does not divide image_size {m.image_size}; pick a divisor",
        )
    if m.embed_dim > 0 and m.heads > 0:
        need(
            m.embed_dim % m.heads == 0,
            "model.embed_dim",
            f"{m.embed_dim} is not divisible by heads {m.heads}; pick a multiple of heads",
        )
    if m.attention == "sdpa":
        # Earlier versions had an sdpa choice; its successor is the standard attention.
        errors.append(
            ConfigError(
                "model.attention",
                "sdpa is no longer a choice; use mha (the standard attention, run with the fused kernel)",
            )
        )
    else:
        _choice(errors, "model.attention", m.attention, ATTENTIONS)
    _choice(errors, "model.ffn", m.ffn, FFNS)
    _choice(errors, "model.pool", m.pool, POOLS)
    # The reference layouts (dlstudio, einsum) always prepend a class token and classify from it.
    need(
        m.pool != "mean" or m.attention == "mha",
        "model.pool",
        f"mean pooling needs attention mha, not {m.attention}; set model.attention=mha or model.pool=token",
    )
    _choice(errors, "model.stem", m.stem, STEMS)
    need(
        m.stem != "conv" or m.attention == "mha",
        "model.stem",
        f"the conv stem needs attention mha, not {m.attention}; set model.attention=mha or model.stem=patch",
    )
    need(
        m.stem != "conv" or _is_power_of_two(m.patch_size),
        "model.stem",
        f"the conv stem halves the image per layer, so patch_size must be a power of two, not {m.patch_size}",
    )
    need(m.mlp_ratio > 0, "model.mlp_ratio", f"must be positive, got {m.mlp_ratio}")
    need(0 <= m.dropout < 1, "model.dropout", f"must be in [0, 1), got {m.dropout}")
    if not errors:  # the estimate needs a model that is otherwise sound
        size_error = _size_error(m)
        if size_error is not None:
            errors.append(size_error)

    for key in ("epochs", "batch_size", "eval_batch_size"):
        need(getattr(t, key) > 0, f"train.{key}", f"must be positive, got {getattr(t, key)}")
    need(t.lr > 0 and math.isfinite(t.lr), "train.lr", f"must be a positive number, got {t.lr}")
    need(all(0 <= b < 1 for b in t.betas), "train.betas", f"each beta must be in [0, 1), got {t.betas}")
    need(t.weight_decay >= 0, "train.weight_decay", f"must be >= 0, got {t.weight_decay}")
    need(t.warmup_epochs >= 0, "train.warmup_epochs", f"must be >= 0, got {t.warmup_epochs}")
    need(0 <= t.label_smoothing < 1, "train.label_smoothing", f"must be in [0, 1), got {t.label_smoothing}")
    need(t.grad_clip >= 0, "train.grad_clip", f"must be >= 0 (0 = off), got {t.grad_clip}")
    _choice(errors, "train.optimizer", t.optimizer, OPTIMIZERS)
    _choice(errors, "train.schedule", t.schedule, SCHEDULES)
    _choice(errors, "train.augment", t.augment, AUGMENTS)
    _choice(errors, "train.precision", t.precision, PRECISIONS)
    _choice(errors, "train.keep", t.keep, KEEPS)
    _choice(errors, "train.cuda_graph", t.cuda_graph, CUDA_GRAPH_MODES)
    need(0 <= t.seed <= MAX_SEED, "train.seed", f"must be between 0 and 2**63 - 1 ({MAX_SEED}), got {t.seed}")
    need(_device_ok(t.device), "train.device", f"unknown device {t.device!r}; use auto, cpu, cuda, cuda:N or mps")
    tracker_error = _tracker_error(t.log_to)
    if tracker_error is not None:
        errors.append(tracker_error)
    need(
        _budget_ok(t.data_memory_budget),
        "train.data_memory_budget",
        f"cannot read {t.data_memory_budget!r} as a size; use auto, {SIZE_EXAMPLES}",
    )
    return errors


def _tracker_error(names: tuple[str, ...]) -> ConfigError | None:
    """An unknown, repeated or uninstalled tracker in ``train.log_to`` (found without importing it)."""
    import importlib.util

    for i, name in enumerate(names):
        if name not in TRACKERS:
            close = difflib.get_close_matches(name, TRACKERS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            return ConfigError("train.log_to", f"unknown tracker {name!r}{hint}; choose from {', '.join(TRACKERS)}")
        if name in names[:i]:
            return ConfigError("train.log_to", f"lists {name} twice; name each tracker once")
        if importlib.util.find_spec(name) is None:
            return ConfigError(
                "train.log_to", f"{name} is not installed; run {TRACKERS_EXTRA} or remove {name} from train.log_to"
            )
    return None


def _budget_ok(budget: str) -> bool:
    if budget == "auto":
        return True
    try:
        parse_size(budget)
    except ValueError:
        return False
    return True


def _size_error(m: ModelConfig) -> ConfigError | None:
    """Refuse a model too large to train, from the arithmetic alone (building it could hang or run out of memory)."""
    params = estimate_parameters(m)
    if params <= MAX_PARAMETERS:
        return None
    # Blame the depth when a single block fits; otherwise the width (with the flattened
    # feed-forward also the number of patches) is what makes each block too big.
    one_block = estimate_parameters(replace(m, blocks=1))
    key = "model.blocks" if m.blocks > 1 and one_block <= MAX_PARAMETERS else "model.embed_dim"
    fix = "use fewer model.blocks" if key == "model.blocks" else "use a smaller model.embed_dim"
    if m.ffn == "flattened" and key == "model.embed_dim":
        fix += " or fewer patches (a larger model.patch_size or smaller model.image_size)"
    return ConfigError(
        key,
        f"the model would have about {params:,} parameters ({params * 4 / 1e9:,.1f} GB of weights), more than "
        f"the {MAX_PARAMETERS:,} allowed; {fix}",
    )


def estimate_parameters(m: ModelConfig, num_classes: int = 100) -> int:
    """The parameter count ``m`` describes, by arithmetic (``model.vit`` builds exactly these)."""
    E, H, L = m.embed_dim, m.heads, sequence_length(m)
    D = E // H
    patches = (m.image_size // m.patch_size) ** 2
    if m.attention == "dlstudio":
        attention = H * (L * D) * (3 * L * D) + H * 3 * L * D
    elif m.attention == "einsum":
        attention = H * D * 3 * D
    else:
        attention = E * 3 * E + 3 * E + E * E + E
    if m.ffn == "flattened":
        width = L * E
        ffn = width * 2 * width + 2 * width + 2 * width * width + width
    else:
        hidden = max(1, round(E * m.mlp_ratio) if m.attention != "mha" else int(E * m.mlp_ratio))
        ffn = E * hidden + hidden + hidden * E + E
    block = attention + ffn + 4 * E  # and two LayerNorms
    head = E * num_classes + num_classes
    if m.attention != "mha":
        return 3 * m.patch_size**2 * E + E + E + (patches + 1) * E + m.blocks * block + head
    if m.stem == "conv":
        depth = m.patch_size.bit_length() - 1
        widths = [3, *(E // 2**k for k in reversed(range(depth)))]
        stem = sum(
            9 * widths[i] * widths[i + 1] + (widths[i + 1] if i == depth - 1 else 2 * widths[i + 1])
            for i in range(depth)
        )
    else:
        stem = 3 * m.patch_size**2 * E + E
    cls = E if has_class_token(m) else 0
    return stem + cls + L * E + m.blocks * block + 2 * E + head


def _choice(errors: list[ConfigError], key: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        errors.append(ConfigError(key, f"unknown value {value!r}{hint}; choose one of {', '.join(options)}"))


def _is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def _device_ok(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    prefix, _, index = device.partition(":")
    return prefix == "cuda" and index.isdigit()


def validate(cfg: RunConfig) -> RunConfig:
    """Raise the first ``ConfigError`` found; return the config when it is sound."""
    errors = field_errors(cfg)
    if errors:
        raise errors[0]
    return cfg


def sequence_length(model: ModelConfig) -> int:
    """Tokens per image: the patches, plus the class token unless ``pool`` is mean."""
    return (model.image_size // model.patch_size) ** 2 + (1 if has_class_token(model) else 0)


def has_class_token(model: ModelConfig) -> bool:
    """Whether the model prepends a class token (every layout except mha with mean pooling)."""
    return model.pool != "mean"


# --- differences ----------------------------------------------------------------------------


def config_diff(cfg: RunConfig, base: RunConfig) -> list[tuple[str, Any, Any]]:
    """``(key, value in cfg, value in base)`` for every key whose value differs, in ``all_keys`` order."""
    return [
        (key, get_value(cfg, key), get_value(base, key))
        for key in all_keys()
        if get_value(cfg, key) != get_value(base, key)
    ]
