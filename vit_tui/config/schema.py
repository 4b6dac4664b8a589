"""The settings a run has: data, model and training sections as dataclasses, each field with its doc.

A field's doc is declared with it (``setting(default, doc)`` keeps it in the field's metadata),
so the form, the command palette and ``field_doc`` read it from the class itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from ..data.augment_names import AUGMENTS, POLICIES
from ..errors import UserError

ARCHS = ("vit", "resnet18")
ATTENTIONS = ("dlstudio", "einsum", "mha")
FFNS = ("flattened", "mlp")
POOLS = ("token", "mean")
STEMS = ("patch", "conv")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
PRECISIONS = ("auto", "fp32", "bf16")
KEEPS = ("best", "last")
CUDA_GRAPH_MODES = ("auto", "off")
TRACKERS = ("tensorboard", "wandb")
TRACKERS_EXTRA = "pip install 'vit-tui[trackers]'"
PRETRAINED_EXTRA = "pip install 'vit-tui[pretrained]'"
INIT_FILE_SUFFIXES = (".safetensors", ".pth", ".bin")
MAX_CNN_WIDTH = 256
"""The widest first ResNet stage ``model.width`` may ask for (torchvision's is 64)."""
VIT_ONLY_KEYS = (
    "patch_size", "embed_dim", "heads", "blocks", "attention", "pool", "stem", "ffn", "mlp_ratio", "dropout",
    "drop_path", "init",
)
"""The model settings a CNN (``model.arch`` other than vit) ignores; the form greys them out."""
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


def setting(default: Any, doc: str, choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with its default, the one-line doc the form and palette show, and its choices if any."""
    return field(default=default, metadata={"doc": doc, "choices": choices})


@dataclass
class DataConfig:
    """Which dataset a run trains on."""

    dataset: str = setting("data/demo", "Dataset folder (made by ``vit-tui data build|import|demo``).")


@dataclass
class ModelConfig:
    """Shape of the network: the Vision Transformer, or the CNN baseline."""

    arch: str = setting(
        "vit",
        "vit (the Vision Transformer) or resnet18 (the CNN baseline: ResNet-18 with a 3x3 stem, no max-pool).",
        ARCHS,
    )
    width: int = setting(16, "resnet18 only: channels of the first stage (then x2, x4, x8); 64 is torchvision's.")
    image_size: int = setting(64, "Input side in pixels; images are square.")
    patch_size: int = setting(16, "Patch side in pixels; must divide image_size.")
    embed_dim: int = setting(100, "Embedding size E; must be divisible by heads.")
    heads: int = setting(5, "Attention heads H.")
    blocks: int = setting(3, "Encoder blocks.")
    attention: str = setting(
        "dlstudio",
        "dlstudio (the reference, faithful), einsum (the course listing, faithful), mha (standard ViT, fused kernel).",
        ATTENTIONS,
    )
    pool: str = setting(
        "token",
        "token: classify from the class token; mean: average the patch tokens (no class token). mha only.",
        POOLS,
    )
    stem: str = setting(
        "patch",
        "patch: one strided Conv2d per patch; conv: 3x3 stride-2 convolutions down to the patch grid. mha only.",
        STEMS,
    )
    ffn: str = setting("flattened", "flattened (the reference's L*E -> 2*L*E -> L*E) or mlp (per token).", FFNS)
    mlp_ratio: float = setting(4.0, "Hidden size of the per-token MLP as a multiple of embed_dim.")
    dropout: float = setting(0.0, "Dropout probability after attention and inside the feed-forward part.")
    drop_path: float = setting(
        0.0,
        "Stochastic depth in [0, 1): residual branches dropped per sample, rising to this rate in the last block. mha only.",
    )
    init: str = setting(
        "none",
        "Start weights: none, timm:<name> (timm's pretrained weights and shape) or a timm ViT file "
        "(.safetensors, .pth, .bin). mha with the patch stem only; needs " + PRETRAINED_EXTRA + ".",
    )


@dataclass
class TrainConfig:
    """How a run trains."""

    epochs: int = setting(20, "Passes over the training split.")
    batch_size: int = setting(16, "Images per optimizer step.")
    optimizer: str = setting("adam", "adam, adamw or sgd (momentum 0.9).", OPTIMIZERS)
    lr: float = setting(2e-4, "Peak learning rate.")
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam/AdamW betas, each in [0, 1).")
    weight_decay: float = setting(0.0, "Weight decay (decoupled for adamw).")
    schedule: str = setting("constant", "constant, or cosine (linear warm-up then cosine decay).", SCHEDULES)
    warmup_epochs: float = setting(0.0, "Linear warm-up length in epochs (cosine schedule).")
    label_smoothing: float = setting(0.0, "Cross-entropy label smoothing in [0, 1).")
    grad_clip: float = setting(0.0, "Clip the gradient norm to this value; 0 turns clipping off.")
    augment: str = setting(
        "none", "none, flip, flip-crop (padded crop) or flip-resized-crop; runs on the device.", AUGMENTS
    )
    policy: str = setting(
        "none", "none, trivialaugment or randaugment: one (two) ops per image after augment, on the device.", POLICIES
    )
    policy_magnitude: int = setting(9, "RandAugment magnitude bin, 0-30 (trivialaugment draws its own).")
    mixup: float = setting(0.0, "Mixup Beta alpha (timm's; 0.8 is usual); 0 turns mixup off.")
    cutmix: float = setting(0.0, "CutMix Beta alpha (timm's; 1.0 is usual); 0 turns it off. With mixup: half each.")
    random_erasing: float = setting(0.0, "Probability of erasing one box per image with noise (timm's pixel mode).")
    precision: str = setting("auto", "auto (bf16 autocast on CUDA, fp32 elsewhere), fp32 or bf16.", PRECISIONS)
    compile: bool = setting(False, "Wrap the model in torch.compile.")
    cuda_graph: str = setting(
        "off",
        "off (default, the tested path): eager steps; auto: replay each step as a captured CUDA graph (CUDA, Adam/AdamW).",
        CUDA_GRAPH_MODES,
    )
    seed: int = setting(1, "Seed for python, numpy and torch.")
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps.")
    deterministic: bool = setting(True, "Deterministic algorithms (same config, same metrics on CPU).")
    keep: str = setting("best", "Checkpoint evaluated and exported: best (by validation accuracy) or last.", KEEPS)
    eval_batch_size: int = setting(512, "Images per forward pass when evaluating.")
    log_to: tuple[str, ...] = setting(
        (), "Trackers fed while training: tensorboard (runs/<name>/tb/), wandb (offline unless WANDB_MODE is set)."
    )
    data_memory_budget: str = setting(
        "auto", "auto (half the free device memory) or a size like 2GiB: a larger train split is streamed from disk."
    )


@dataclass
class RunConfig:
    """Everything one training run needs; saved as ``config.toml`` in its run folder."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    preset: str = ""
    """Name of the preset this config started from, if any."""


SECTIONS = ("data", "model", "train")
SECTION_TYPES: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def section_fields(section: str) -> list[dataclasses.Field]:
    """The dataclass fields of one section (``data``, ``model`` or ``train``)."""
    return list(fields(SECTION_TYPES[section]))


def all_keys() -> list[str]:
    """Every dotted key, e.g. ``model.heads``."""
    return [f"{s}.{f.name}" for s in SECTIONS for f in section_fields(s)]


_FIELD_DOCS = {f"{s}.{f.name}": f.metadata.get("doc", "") for s in SECTIONS for f in section_fields(s)}


CHOICES: dict[str, tuple[str, ...]] = {
    f"{s}.{f.name}": f.metadata["choices"] for s in SECTIONS for f in section_fields(s) if f.metadata.get("choices")
}
"""The allowed values of each field that has a fixed list of them."""


def field_doc(key: str) -> str:
    """The doc declared with a config field (empty for an unknown key)."""
    return _FIELD_DOCS.get(key, "")
