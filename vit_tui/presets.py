"""Named starting configs: ``reference``, ``reference-einsum``, ``fast`` and ``accurate``.

``reference`` is the course experiment's table (see the README); the others change only
what their name promises.
"""

from __future__ import annotations

from dataclasses import replace

from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig


def _reference() -> RunConfig:
    return RunConfig(
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


def _reference_einsum() -> RunConfig:
    cfg = _reference()
    return replace(cfg, model=replace(cfg.model, attention="einsum"), preset="reference-einsum")


def _fast() -> RunConfig:
    # The standard ViT's transformer on a 4x4 grid of tokens from a convolutional stem: a
    # linear patch embedding cannot compute the edges and corners that tell the demo shapes
    # apart whatever their colours, and 16 tokens leave time for 45 epochs on a 2-core CPU.
    # Measured against the patch-8 ViT it replaces (bench/BENCHMARKS.md, "Accuracy").
    return RunConfig(
        model=ModelConfig(
            image_size=64,
            patch_size=16,
            embed_dim=96,
            heads=6,
            blocks=4,
            attention="mha",
            stem="conv",
            ffn="mlp",
            mlp_ratio=2.0,
            dropout=0.0,
        ),
        train=TrainConfig(
            epochs=45,
            batch_size=64,
            optimizer="adamw",
            lr=1e-3,
            betas=(0.9, 0.99),
            weight_decay=0.05,
            schedule="cosine",
            warmup_epochs=1.0,
            label_smoothing=0.1,
            grad_clip=1.0,
            augment="flip-crop",
            precision="auto",
            seed=1,
            deterministic=False,
        ),
        preset="fast",
    )


def _accurate() -> RunConfig:
    # fast's design, twice as wide and half as deep again, with dropout: 86.9% against 86.1% on
    # cifar10-5 for about 3.5x the training time (bench/BENCHMARKS.md, "Accuracy").
    return RunConfig(
        model=ModelConfig(
            image_size=64,
            patch_size=16,
            embed_dim=192,
            heads=6,
            blocks=6,
            attention="mha",
            stem="conv",
            ffn="mlp",
            mlp_ratio=2.0,
            dropout=0.1,
        ),
        train=TrainConfig(
            epochs=40,
            batch_size=128,
            optimizer="adamw",
            lr=1e-3,
            betas=(0.9, 0.99),
            weight_decay=0.05,
            schedule="cosine",
            warmup_epochs=3.0,
            label_smoothing=0.1,
            grad_clip=1.0,
            augment="flip-crop",
            precision="auto",
            seed=1,
            deterministic=False,
        ),
        preset="accurate",
    )


PRESETS = {
    "reference": _reference,
    "reference-einsum": _reference_einsum,
    "fast": _fast,
    "accurate": _accurate,
}

DESCRIPTIONS = {
    "reference": "the course experiment: DLStudio attention, flattened FFN, Adam 2e-4, batch 16",
    "reference-einsum": "the reference with the course listing's einsum attention (softmax across heads)",
    "fast": "standard ViT (E=96, 4 blocks, 6 heads), AdamW, cosine, 20 epochs: ~10 min for 25k images on 2 CPU cores",
    "accurate": "a larger standard ViT (E=192, 6 blocks), 60 epochs: 84% on cifar10-5, under a minute on one H200",
}


def preset(name: str) -> RunConfig:
    """A fresh copy of the named preset."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError("preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
