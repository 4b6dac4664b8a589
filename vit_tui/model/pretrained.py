"""Starting a run from timm-format ViT weights: ``model.init`` = ``none`` | ``timm:<name>`` | a file.

The standard layout with the patch stem is timm's ``VisionTransformer`` under timm's names, so
the weights go through timm's own loader: ``timm.create_model(..., pretrained=True)`` with the
run's image size, patch size and classes. Its checkpoint filter resamples the position
embeddings (``resample_abs_pos_embed``) to the run's patch grid and the patch embedding
(``resample_patch_embed``) to the run's patch size, and it drops a head whose classes differ,
which then keeps timm's fresh initialisation. The loaded timm model's state is then copied into
ours, key for key.

``timm:<name>`` takes the shape (E, blocks, heads, patch, MLP ratio) from timm's config for
that name (``init_shape``) and the weights from timm's download; a file takes the shape from
the run's config, and a tensor that does not fit is one line naming it with both shapes. timm
is an optional extra (``pip install 'vit-tui[pretrained]'``), imported only here and only when
``model.init`` is set.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from ..config import ModelConfig
from ..config.schema import PRETRAINED_EXTRA
from ..errors import UserError
from .build import build_model
from .size_estimate import is_cnn

FIELD = "model.init"
FILE_BASE_MODEL = "vit_tiny_patch16_224"
"""The timm name a file is loaded under: it gives timm's ViT config (classifier, first conv); the shape is the run's."""
RESAMPLED = ("pos_embed", "patch_embed.proj.weight")
HEAD = ("head.weight", "head.bias")


@dataclass(frozen=True)
class InitReport:
    """What ``model.init`` put into the model."""

    source: str
    loaded: int
    """Tensors taken from the weights (resampled ones included, a re-initialised head not)."""
    resampled: tuple[str, ...]
    head_reinitialised: bool

    def describe(self) -> str:
        """One line: ``timm:vit_tiny...: 150 tensors loaded, pos_embed resampled, head re-initialised for 5 classes``."""
        parts = [f"{self.source}: {self.loaded} tensors loaded"]
        if self.resampled:
            parts.append(f"{', '.join(self.resampled)} resampled")
        parts.append("head re-initialised" if self.head_reinitialised else "head loaded")
        return ", ".join(parts)


def wants_init(m: ModelConfig) -> bool:
    """Whether ``model.init`` asks for weights (a CNN ignores it, as it does every ViT-only setting)."""
    return m.init.strip() != "none" and not is_cnn(m)


def import_timm() -> ModuleType:
    """timm, or a one-line ``UserError`` naming the extra that installs it."""
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise UserError(FIELD, f"loading weights needs timm; run {PRETRAINED_EXTRA} or set model.init=none") from None


def timm_name(init: str) -> str | None:
    """The model name of ``timm:<name>``, None for a file or ``none``."""
    init = init.strip()
    return init[len("timm:") :].strip() if init.startswith("timm:") else None


def init_shape(m: ModelConfig) -> ModelConfig:
    """``m`` with timm's shape for ``timm:<name>`` (built on the meta device: nothing is fetched); else ``m``."""
    name = timm_name(m.init)
    if name is None:
        return m
    ref = _timm_model(import_timm(), name, pretrained=False, meta=True)
    block = ref.blocks[0]
    return replace(
        m,
        embed_dim=int(ref.embed_dim),
        blocks=len(ref.blocks),
        heads=int(block.attn.num_heads),
        patch_size=int(ref.patch_embed.patch_size[0]),
        mlp_ratio=block.mlp.fc1.out_features / ref.embed_dim,
    )


def initial_model(m: ModelConfig, num_classes: int, load: bool = True) -> tuple[nn.Module, str]:
    """The model ``m`` describes, with ``model.init``'s weights when ``load``; a line saying what was loaded, or ""."""
    model = build_model(m, num_classes)
    if not (load and wants_init(m)):
        return model, ""
    return model, load_init(model, m, num_classes).describe()


def describe_init(m: ModelConfig, num_classes: int) -> str:
    """What ``model.init`` loads, for a summary: a file is loaded into a throwaway model; a timm name is not fetched."""
    name = timm_name(m.init)
    if name is None:
        return load_init(build_model(m, num_classes), m, num_classes).describe()
    ref = _timm_model(import_timm(), name, pretrained=False, meta=True)
    grid = ref.pretrained_cfg.get("input_size", (3, 224, 224))[-1] // m.patch_size
    ours = m.image_size // m.patch_size
    parts = [f"timm:{name}: timm's shape, weights fetched through timm when a run starts"]
    if grid != ours:
        parts.append(f"pos_embed resampled from {grid}x{grid} to {ours}x{ours}")
    if ref.pretrained_cfg.get("num_classes") != num_classes:
        parts.append(f"head re-initialised for {num_classes} classes")
    return ", ".join(parts)


def load_init(model: nn.Module, m: ModelConfig, num_classes: int) -> InitReport:
    """Load ``m.init``'s weights into ``model`` (a standard ViT built from ``m``); what was loaded."""
    timm = import_timm()
    name = timm_name(m.init)
    if name is not None:
        ref = _timm_model(timm, name, num_classes=num_classes, img_size=m.image_size)
        cfg_classes = ref.pretrained_cfg.get("num_classes")
        grid = ref.pretrained_cfg.get("input_size", (3, 224, 224))[-1] // m.patch_size
        resampled = ("pos_embed",) if grid != m.image_size // m.patch_size else ()
        report = InitReport(m.init.strip(), 0, resampled, cfg_classes != num_classes)
    else:
        ref, report = _load_file(timm, Path(m.init.strip()).expanduser(), model, m, num_classes)
    state = ref.state_dict()
    _copy_state(model, state, m.init.strip())
    loaded = len(state) - (len(HEAD) if report.head_reinitialised else 0)
    return replace(report, loaded=loaded)


def _load_file(
    timm: ModuleType, path: Path, model: nn.Module, m: ModelConfig, num_classes: int
) -> tuple[nn.Module, InitReport]:
    """timm's resampled load of a weights file with the run's shape, checked against ``model`` first."""
    theirs = _read_file(timm, path)
    resampled = _check_fit(theirs, model.state_dict(), path)
    head = theirs.get("head.weight")
    file_classes = int(head.shape[0]) if head is not None and head.ndim == 2 else -1
    ref = _timm_model(
        timm,
        FILE_BASE_MODEL,
        # Naming the file's own classes keeps its head when they match ours; otherwise timm drops it.
        pretrained_cfg_overlay={"file": str(path), "num_classes": file_classes},
        num_classes=num_classes,
        img_size=m.image_size,
        patch_size=m.patch_size,
        embed_dim=m.embed_dim,
        depth=m.blocks,
        num_heads=m.heads,
        mlp_ratio=m.mlp_ratio,
    )
    return ref, InitReport(str(path), 0, resampled, file_classes != num_classes)


def _read_file(timm: ModuleType, path: Path) -> dict[str, torch.Tensor]:
    """The file's state dict through timm's reader (safetensors, or a torch pickle with its wrappers)."""
    if not path.is_file():
        raise UserError(FIELD, f"no weights file {path}; give an existing .safetensors, .pth or .bin file")
    try:
        state = timm.models.load_state_dict(str(path))
    except Exception as exc:  # noqa: BLE001 - any reader failure is an unreadable file
        raise UserError(FIELD, f"cannot read {path} as weights ({type(exc).__name__}: {_first_line(exc)})") from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(FIELD, f"{path} holds no state dict of tensors")
    return state


def _check_fit(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor], path: Path) -> tuple[str, ...]:
    """The tensors timm will resample; a ``UserError`` naming the first tensor that cannot fit.

    Positions may differ in their number of patches and the patch embedding in its kernel
    size (both are resampled); a head of other classes is replaced. Everything else must match.
    """
    fix = "give the model the file's shape (model.embed_dim, model.heads, model.blocks, model.mlp_ratio)"
    for key, want in ours.items():
        if key not in theirs:
            if key in HEAD:
                continue
            raise UserError(FIELD, f"{path} has no tensor {key}, which the model needs; {fix}")
        have = theirs[key]
        if have.shape != want.shape and not _resamplable(key, have, want):
            raise UserError(
                FIELD, f"{path}: {key} is {list(have.shape)} there, the model needs {list(want.shape)}; {fix}"
            )
    extra = [key for key in theirs if key not in ours]
    if extra:
        raise UserError(FIELD, f"{path} has a tensor {extra[0]} the model has no place for; {fix}")
    return tuple(key for key in RESAMPLED if theirs[key].shape != ours[key].shape)


def _resamplable(key: str, have: torch.Tensor, want: torch.Tensor) -> bool:
    if key in HEAD:
        # Another number of classes is replaced; another width cannot be.
        return have.shape[1:] == want.shape[1:]
    if key == "patch_embed.proj.weight":
        return have.ndim == 4 and have.shape[:2] == want.shape[:2]
    if key == "pos_embed":
        # One class token, then a square grid: the grid is resampled.
        patches = have.shape[1] - 1
        return have.ndim == 3 and have.shape[2] == want.shape[2] and round(patches**0.5) ** 2 == patches
    return False


def _timm_model(timm: ModuleType, name: str, pretrained: bool = True, meta: bool = False, **kwargs: Any) -> nn.Module:
    """``timm.create_model`` with its failures as one line naming ``model.init``."""
    try:
        if meta:
            with torch.device("meta"):
                model = timm.create_model(name, pretrained=False, **kwargs)
        else:
            model = timm.create_model(name, pretrained=pretrained, **kwargs)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - unknown names, failed downloads, bad files: all one line
        raise UserError(FIELD, f"timm could not make {name}: {type(exc).__name__}: {_first_line(exc)}") from None
    if type(model).__name__ != "VisionTransformer" or type(model.patch_embed).__name__ != "PatchEmbed":
        raise UserError(FIELD, f"timm's {name} is a {type(model).__name__}, not a ViT with a patch embedding")
    return model


def _copy_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy timm's loaded state into ours: the same keys and shapes (both are timm's layout)."""
    ours = model.state_dict()
    for key, value in state.items():
        if key not in ours or ours[key].shape != value.shape:
            have = list(ours[key].shape) if key in ours else "absent"
            raise UserError(FIELD, f"{source}: {key} is {list(value.shape)} in timm's model, ours has {have}")
    missing = [key for key in ours if key not in state]
    if missing:
        raise UserError(FIELD, f"{source}: timm's model has no {missing[0]}, which ours needs")
    with torch.no_grad():
        model.load_state_dict(state)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:160]
