"""What a run's model attends to: each block's attention per head, and attention rollout.

Weights are recorded only inside ``attention_weights`` (``model.attention.record_attention``);
training never records, and its fused kernel stays in place. Every array keeps what the
variant computes, oriented (query, key):

- ``mha`` takes its softmax over keys: each row sums to 1.
- ``dlstudio`` (the reference) takes it across queries: each column sums to 1, rows do not.
- ``einsum`` (the course listing) takes it across heads: for each (query, key) the heads' weights
  sum to 1; neither rows nor columns do. Averaged over heads, every weight is exactly 1/H.

The head maps show the class token's row over the patches (for a mean-pooled model, with no
class token, the mean of all rows). Rollout (Abnar & Zuidema, 2020) averages each block's heads,
adds the identity, renormalises every row to sum to 1 and multiplies the blocks through; for
``dlstudio`` and ``einsum`` that row renormalisation is the rollout's reading, not something the
model does. ``rollout_grid`` gives the app its heat map; ``export_attention`` writes the figures.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...data.imaging import image_files
from ...errors import UserError
from ...figures import FIGURE_DPI
from ...files import write_with
from ...model.attention import record_attention
from ...model.size_estimate import has_class_token, is_cnn
from ...outputs import claim_folder, output_folder
from .model import RunModel, open_run

WEIGHTS_NOTES = {
    "mha": "mha: softmax over keys, so each row of a head's attention sums to 1.",
    "dlstudio": "dlstudio (the reference): softmax across queries, so each column (a key) sums to 1 over the "
    "queries and rows do not; a patch's value is the part of that patch's weight, spread over all queries, "
    "that the class token receives.",
    "einsum": "einsum (the course listing): softmax across heads, so for each patch the heads' values sum to 1 "
    "and a head's row does not; a value is that head's share of the class token's attention to the patch.",
}
HEADS_NOTE = {
    True: "Head maps: the class token's attention to each patch (its own weight left out).",
    False: "No class token (mean pooling): head maps show the mean over all query tokens of what each patch receives.",
}
ROLLOUT_NOTES = {
    "mha": "",
    "dlstudio": " The row renormalisation is the rollout's, not the model's: read it as a rescaled view.",
    "einsum": " Averaged over heads every weight is exactly 1/H here, so the rollout is the same flat map for "
    "every image: it shows the listing's softmax, not the image.",
}


@dataclass(frozen=True)
class ImageAttention:
    """One image's attention: the image as the model saw it, the head maps and the rollout."""

    path: Path | None
    image: np.ndarray  # uint8 (S, S, 3)
    heads: np.ndarray  # (blocks, heads, g, g): what each head gives each patch, as computed
    rollout: np.ndarray  # (g, g), sums to 1
    top: tuple[tuple[str, float], ...]


def refuse_cnn(run_dir: str | os.PathLike, model_cfg) -> None:
    """One line for a CNN run: it has no attention to draw."""
    if is_cnn(model_cfg):
        raise UserError(
            f"run {Path(run_dir).name}",
            f"is a CNN (model.arch={model_cfg.arch}), which has no attention to show; attention maps are for ViT runs",
        )


def attention_weights(model: torch.nn.Module, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, C) and every block's weights (B, blocks, heads, L, L), rows queries, from one pass."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), record_attention(model) as records:
            logits = model(inputs)
    finally:
        model.train(was_training)
    return logits, torch.stack([torch.cat(record) for record in records], dim=1).float()


def patch_attention(weights: torch.Tensor, class_token: bool) -> torch.Tensor:
    """(B, blocks, heads, patches): the class token's row without its own column, or all rows' mean."""
    if class_token:
        return weights[..., 0, 1:]
    return weights.mean(dim=-2)


def rollout_matrix(weights: torch.Tensor) -> torch.Tensor:
    """(B, L, L) attention rollout of (B, blocks, heads, L, L) weights; every row sums to 1."""
    mixed = weights.mean(dim=2) + torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    mixed = mixed / mixed.sum(dim=-1, keepdim=True)
    rollout = mixed[:, 0]
    for block in range(1, mixed.shape[1]):
        rollout = mixed[:, block] @ rollout  # later blocks mix what earlier ones already mixed
    return rollout


def rollout_patches(weights: torch.Tensor, class_token: bool) -> torch.Tensor:
    """(B, patches) rollout over the patches, summing to 1: the class token's row, or all rows' mean."""
    rollout = rollout_matrix(weights)
    if not class_token:
        return rollout.mean(dim=1)
    patches = rollout[:, 0, 1:]
    return patches / patches.sum(dim=-1, keepdim=True)


def _grid(values: torch.Tensor) -> np.ndarray:
    side = round(values.shape[-1] ** 0.5)
    return values.reshape(*values.shape[:-1], side, side).cpu().numpy()


def image_attention(
    run: RunModel, images: torch.Tensor, paths: Sequence[Path | None] = (), top_k: int = 3
) -> list[ImageAttention]:
    """``ImageAttention`` for each uint8 (N, S, S, 3) image, with its top-k classes."""
    from ...data.augment import to_model_input

    logits, weights = attention_weights(run.model, to_model_input(images))
    class_token = has_class_token(run.cfg.model)
    heads = _grid(patch_attention(weights, class_token))
    rollout = _grid(rollout_patches(weights, class_token))
    values, indices = logits.float().softmax(dim=1).topk(min(top_k, len(run.classes)), dim=1)
    paths = list(paths) or [None] * images.shape[0]
    return [
        ImageAttention(
            paths[i],
            images[i].cpu().numpy(),
            heads[i],
            rollout[i],
            tuple((run.classes[c], float(p)) for p, c in zip(values[i].tolist(), indices[i].tolist())),
        )
        for i in range(images.shape[0])
    ]


def rollout_grid(run: RunModel, image: np.ndarray | str | os.PathLike) -> np.ndarray:
    """The rollout over the patch grid (g, g), summing to 1, for one image: a file or uint8 (H, W, 3).

    An array of another size is resized to the model's input as validation images are.
    """
    from ...data.imaging import fit_images

    refuse_cnn(Path(run.meta.get("path", "run")).parent.parent, run.cfg.model)
    if isinstance(image, np.ndarray):
        batch = fit_images(torch.from_numpy(image[None]), run.cfg.model.image_size).to(run.device)
    else:
        batch = run.read_images([image])
    return image_attention(run, batch)[0].rollout


# --- figures --------------------------------------------------------------------------------


def legend_text(variant: str, class_token: bool) -> str:
    """What the maps of this variant show, for the figure's legend."""
    rollout = (
        "Rollout (Abnar & Zuidema 2020): per block the heads' mean plus the identity, each row renormalised "
        "to sum to 1, multiplied through the blocks; shown: "
        + ("the class token's row over the patches" if class_token else "the mean of its rows")
        + ", rescaled to sum to 1."
        + ROLLOUT_NOTES[variant]
    )
    scale = "Each map is coloured from 0 (dark) to its own maximum (bright, value in its title)."
    return " ".join((WEIGHTS_NOTES[variant], HEADS_NOTE[class_token], rollout, scale))


ROLLOUT_CAPTIONS = {
    "mha": "softmax over keys: where the class token looks",
    "dlstudio": "softmax across queries: a rescaled view, rows renormalised by the rollout",
    "einsum": "softmax across heads: every head mean is 1/H, so this map is flat for every image",
}


def rollout_caption(variant: str, class_token: bool) -> str:
    """One short line for a rollout map: what is rolled out and what the variant's softmax makes of it."""
    source = "class token" if class_token else "mean of all tokens"
    return f"rollout ({source}) · {variant}: {ROLLOUT_CAPTIONS[variant]}"


def _overlay(ax, image: np.ndarray, values: np.ndarray, title: str) -> None:
    side = image.shape[0]
    extent = (-0.5, side - 0.5, side - 0.5, -0.5)
    ax.imshow(image, extent=extent)
    top = float(values.max()) or 1.0
    # Nearest: one flat square per patch, the resolution the model attends at.
    ax.imshow(values, cmap="inferno", alpha=0.65, vmin=0.0, vmax=top, extent=extent, interpolation="nearest")
    ax.set_title(f"{title}\nmax {float(values.max()):.3f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_attention(attention: ImageAttention, variant: str, class_token: bool, title: str):
    """The figure: input and rollout on top, one row of heads per block, the legend below."""
    from matplotlib.figure import Figure

    blocks, heads = attention.heads.shape[:2]
    columns = max(heads, 3)
    width = 1.75 * columns + 0.4
    legend = textwrap.fill(legend_text(variant, class_token), width=int(width * 72 / 4.6))
    legend_height = 0.16 * (legend.count("\n") + 1) + 0.2
    fig = Figure(figsize=(width, 2.05 * (blocks + 1) + legend_height + 0.5), dpi=FIGURE_DPI, layout="constrained")
    top, body, foot = fig.subfigures(3, 1, height_ratios=[2.05, 2.05 * blocks, legend_height])
    top.suptitle(title, fontsize=11)
    _draw_top_row(top.subplots(1, columns, squeeze=False)[0], attention)
    grid = body.subplots(blocks, columns, squeeze=False)
    for block in range(blocks):
        for head in range(columns):
            ax = grid[block, head]
            if head >= heads:
                ax.set_axis_off()
                continue
            _overlay(ax, attention.image, attention.heads[block, head], f"block {block + 1} · head {head + 1}")
    foot.text(0.01, 0.98, legend, ha="left", va="top", fontsize=8.5)
    return fig


def _draw_top_row(axes, attention: ImageAttention) -> None:
    axes[0].imshow(attention.image)
    best, prob = attention.top[0]
    axes[0].set_title(f"input\npredicted {best} {prob:.0%}", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    _overlay(axes[1], attention.image, attention.rollout, "attention rollout")
    ranking = "\n".join(f"{name}  {p:.1%}" for name, p in attention.top)
    axes[2].text(0.0, 0.95, f"top classes\n{ranking}", ha="left", va="top", fontsize=9, transform=axes[2].transAxes)
    for ax in axes[2:]:
        ax.set_axis_off()


def export_attention(
    run_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    *,
    checkpoint: str = "best",
    device: str = "cpu",
) -> list[Path]:
    """Write ``<image>_attention.png`` per image file under ``paths`` into ``out_dir``; return the files.

    ``out_dir`` defaults to the run's ``attention/`` folder. Every image is read and every map
    computed before the first file is written, so bad input leaves nothing behind.
    """
    run_dir = Path(run_dir)
    files = image_files(paths)
    out = run_dir / "attention"  # the run's own folder for these, so no marker is needed there
    if out_dir is not None:
        out = output_folder(out_dir, "--out", kind="attention", reuse=True)
    run = open_run(run_dir, checkpoint, device)
    refuse_cnn(run_dir, run.cfg.model)
    attentions = image_attention(run, run.read_images(files), files)
    variant, class_token = run.cfg.model.attention, has_class_token(run.cfg.model)
    written, out = [], claim_folder(out, "attention")
    for attention, name in zip(attentions, _figure_names(files)):
        title = f"{attention.path.name} · run {run_dir.name} · {variant} attention, {checkpoint} checkpoint"
        fig = draw_attention(attention, variant, class_token, title)
        written.append(write_with(out / name, lambda handle, fig=fig: fig.savefig(handle, format="png", dpi=FIGURE_DPI)))
    return written


def _figure_names(files: Sequence[Path]) -> list[str]:
    """``<stem>_attention.png``, with ``-2``, ``-3``... when two images share a stem."""
    names, seen = [], {}
    for path in files:
        count = seen[path.stem] = seen.get(path.stem, 0) + 1
        names.append(f"{path.stem}_attention.png" if count == 1 else f"{path.stem}-{count}_attention.png")
    return names
