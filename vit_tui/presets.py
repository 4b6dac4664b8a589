"""Named starting configs, each with what it is for: ``reference``, ``reference-einsum``, ``fast``, ``accurate``,
``cnn``, ``finetune-tiny`` and ``finetune-small``.

``reference`` is the course experiment's table (see the README); the others change only
what their name promises. ``PRESETS`` is the one table: a preset's description takes its
numbers (model shape and size, epochs, batch) from the config itself, and points to where
bench/BENCHMARKS.md measured it rather than quoting a figure that could go stale.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from .model.size_estimate import describe_layout, estimate_parameters, is_cnn

DESCRIBED_CLASSES = 5
"""Classes the described parameter count assumes: the demo set's and cifar10-5's, as measured."""


@dataclass(frozen=True)
class Preset:
    """One table row: the config, what it is for in words, and where it was measured (if it was)."""

    config: RunConfig
    purpose: str
    measured: str = ""

    @property
    def name(self) -> str:
        return self.config.preset

    @property
    def description(self) -> str:
        """One line for the command palette, its numbers read from the config."""
        m, t = self.config.model, self.config.train
        params = estimate_parameters(m, DESCRIBED_CLASSES)
        if is_cnn(m):
            layout = describe_layout(m)
            size = f"stages {m.width}-{8 * m.width} channels, {m.image_size} px, {params / 1e6:.2g}M parameters"
        else:
            layout = f"{describe_layout(m)}, {m.stem} stem"
            size = (
                f"E={m.embed_dim}, {m.blocks} blocks, {m.heads} heads, {m.image_size} px in {m.patch_size} px patches, "
                f"{params / 1e6:.2g}M parameters"
            )
        recipe = f"{t.optimizer} {_short_number(t.lr)}, {t.schedule}, batch {t.batch_size}, {t.epochs} epochs"
        measured = f"; measured: {self.measured}" if self.measured else ""
        return f"{self.purpose} ({layout}); {size}; {recipe}{measured}"


def _short_number(value: float) -> str:
    """``2e-4`` rather than ``0.0002``, as learning rates are written."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


_REFERENCE = RunConfig(
    data=DataConfig(),
    model=ModelConfig(
        image_size=64,
        patch_size=16,
        embed_dim=100,
        heads=5,
        blocks=3,
        attention="dlstudio",
        ffn="flattened",
        dropout=0.0,
    ),
    train=TrainConfig(
        epochs=20,
        batch_size=16,
        optimizer="adam",
        lr=2e-4,
        betas=(0.9, 0.999),
        weight_decay=0.0,
        schedule="constant",
        augment="none",
        precision="fp32",
        seed=1,
        deterministic=True,
        keep="best",
    ),
    preset="reference",
)


def _adamw_cosine(
    epochs: int, batch_size: int, lr: float, betas: tuple[float, float], warmup_epochs: float
) -> TrainConfig:
    """The standard ViT recipe: AdamW with weight decay 0.05, warm-up then cosine, label smoothing, clipping, flip-crop."""
    return TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adamw",
        lr=lr,
        betas=betas,
        weight_decay=0.05,
        schedule="cosine",
        warmup_epochs=warmup_epochs,
        label_smoothing=0.1,
        grad_clip=1.0,
        augment="flip-crop",
        precision="auto",
        seed=1,
        deterministic=False,
    )


def _standard(
    name: str, embed_dim: int, blocks: int, dropout: float, epochs: int, batch_size: int, warmup_epochs: float
) -> RunConfig:
    """The standard ViT on a convolutional stem with the AdamW/cosine recipe; the presets differ in size.

    A 4x4 grid of tokens from the stem: a linear patch embedding cannot compute the edges and
    corners that tell the demo shapes apart whatever their colours, and 16 tokens leave time
    for many epochs on a 2-core CPU (bench/BENCHMARKS.md, "Accuracy").
    """
    return RunConfig(
        model=ModelConfig(
            image_size=64,
            patch_size=16,
            embed_dim=embed_dim,
            heads=6,
            blocks=blocks,
            attention="mha",
            stem="conv",
            ffn="mlp",
            mlp_ratio=2.0,
            dropout=dropout,
        ),
        train=_adamw_cosine(epochs, batch_size, lr=1e-3, betas=(0.9, 0.99), warmup_epochs=warmup_epochs),
        preset=name,
    )


def _finetune(name: str, embed_dim: int, heads: int) -> RunConfig:
    """timm's ViT shape (12 blocks, patch stem, 16 px patches) with a short fine-tuning recipe.

    At the datasets' 64 px the 16 px patches make a 4x4 grid, to which the loader resamples
    timm's 14x14 position embeddings; a low lr and few epochs keep what the weights learned.
    """
    return RunConfig(
        model=ModelConfig(
            image_size=64,
            patch_size=16,
            embed_dim=embed_dim,
            heads=heads,
            blocks=12,
            attention="mha",
            stem="patch",
            ffn="mlp",
            mlp_ratio=4.0,
            drop_path=0.1,
        ),
        train=_adamw_cosine(10, 64, lr=1e-4, betas=(0.9, 0.999), warmup_epochs=1.0),
        preset=name,
    )


def _cnn() -> RunConfig:
    """The CNN baseline with the usual CIFAR recipe: SGD 0.1 with momentum, weight decay 5e-4, cosine, flip-crop.

    Width 16 keeps a CPU epoch practical (width 64, torchvision's, costs 16 times the FLOPs).
    """
    return RunConfig(
        model=ModelConfig(arch="resnet18", width=16, image_size=64),
        train=TrainConfig(
            epochs=30,
            batch_size=128,
            optimizer="sgd",
            lr=0.1,
            weight_decay=5e-4,
            schedule="cosine",
            warmup_epochs=1.0,
            augment="flip-crop",
            precision="auto",
            seed=1,
            deterministic=False,
        ),
        preset="cnn",
    )


_FINETUNE_PURPOSE = (
    "fine-tuning timm's {shape} from pretrained weights: set model.init to "
    "timm:{name}.augreg_in21k_ft_in1k or a file (none by default)"
)


_MEASURED = "bench/BENCHMARKS.md#the-presets-on-the-2-core-cpu"

PRESETS: dict[str, Preset] = {
    row.name: row
    for row in (
        Preset(_REFERENCE, "the course experiment"),
        Preset(
            replace(_REFERENCE, model=replace(_REFERENCE.model, attention="einsum"), preset="reference-einsum"),
            "the reference with the course listing's attention, softmax across heads",
        ),
        Preset(
            _standard("fast", embed_dim=96, blocks=4, dropout=0.0, epochs=60, batch_size=64, warmup_epochs=1.0),
            "the standard ViT, sized for a CPU",
            _MEASURED,
        ),
        Preset(
            _standard("accurate", embed_dim=192, blocks=6, dropout=0.1, epochs=40, batch_size=128, warmup_epochs=3.0),
            "fast's design, wider and deeper, with dropout, for a GPU",
            _MEASURED,
        ),
        Preset(_cnn(), "the CNN baseline to compare against: ResNet-18 for small images"),
        Preset(
            _finetune("finetune-tiny", embed_dim=192, heads=3),
            _FINETUNE_PURPOSE.format(shape="ViT-Ti/16", name="vit_tiny_patch16_224"),
        ),
        Preset(
            _finetune("finetune-small", embed_dim=384, heads=6),
            _FINETUNE_PURPOSE.format(shape="ViT-S/16", name="vit_small_patch16_224"),
        ),
    )
}


def preset(name: str) -> RunConfig:
    """A fresh copy of the named preset."""
    try:
        return copy.deepcopy(PRESETS[name].config)
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
