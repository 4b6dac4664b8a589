"""Checkpoints: atomic writes, ``weights_only`` loading, and the resumable training state.

Everything saved is tensors, numbers, strings, lists and dicts (the config as TOML text,
random-generator states as byte tensors), so ``torch.load(path, weights_only=True)`` reads it.

- ``weights/best.pt`` and ``weights/last.pt``: the model's state dict, the config and the classes.
- ``weights/resume.pt``: also the optimizer, scheduler, every RNG state, the epoch's permutation,
  the position inside the epoch, the running sums and the metric history.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import config as config_mod
from ... import files
from ...config import RunConfig
from ...errors import UserError

WEIGHTS_FORMAT = "vit-tui/weights"
RESUME_FORMAT = "vit-tui/resume"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` all or nothing (see ``vit_tui.files``)."""
    files.write_with(path, lambda handle: torch.save(obj, handle))


def load_checkpoint(path: Path, expected_format: str) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only``) onto the CPU; bad files are a ``UserError``."""
    if not path.is_file():
        raise UserError(str(path), "checkpoint not found; was the run trained for at least one epoch?")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise UserError(str(path), f"cannot read checkpoint ({type(exc).__name__}); the file may be damaged") from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise UserError(str(path), f"not a {expected_format} checkpoint")
    return data


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict on the CPU, for saving right away (CPU tensors are not copied)."""
    return {k: v.detach().to("cpu") for k, v in model.state_dict().items()}


def save_weights(
    path: Path, model: torch.nn.Module, cfg: RunConfig, classes: list[str], epoch: int, val_acc: float
) -> None:
    """Write a best/last weights file."""
    atomic_save(
        {
            "format": WEIGHTS_FORMAT,
            "version": FORMAT_VERSION,
            "model": model_state(model),
            "config": config_mod.dumps(cfg),
            "classes": list(classes),
            "epoch": int(epoch),
            "val_acc": float(val_acc),
        },
        path,
    )


def checkpoint_config(data: dict[str, Any], path: Path) -> RunConfig:
    """The run config stored inside a checkpoint."""
    return config_mod.loads(data["config"], source=f"{path} (stored config)")


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load a state dict; a different model shape becomes a one-line ``UserError``."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        names = ", ".join((missing + unexpected)[:3])
        raise UserError(source, f"checkpoint is for another model architecture (parameters differ: {names})")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise UserError(
                source,
                f"checkpoint is for another model shape ({key}: {tuple(tensor.shape)} in the file, "
                f"{tuple(own[key].shape)} in the config); use the run's own config",
            )
    model.load_state_dict(state)


# --- random generators ---------------------------------------------------------------------


def capture_rng(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Every RNG state a run depends on, as tensors and numbers."""
    version, mt_state, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: gen.get_state() for name, gen in generators.items()},
    }


def fit_generator_state(saved: torch.Tensor, generator: torch.Generator) -> bool:
    """Put ``saved`` into ``generator``; False when it is another device type's state.

    A CUDA generator keeps a seed and an offset (16 bytes), a CPU one a Mersenne Twister state:
    one cannot be loaded into the other (a run saved on a GPU resumed on the CPU). The generator
    is then seeded from the saved bytes, so a resume continues, the same way each time, with
    draws of its own.
    """
    saved = saved.to("cpu", torch.uint8)
    if saved.numel() == generator.get_state().numel():
        generator.set_state(saved)
        return True
    digest = hashlib.sha256(saved.numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return False


def restore_rng(state: dict[str, Any], generators: dict[str, torch.Generator]) -> list[str]:
    """Put back the states ``capture_rng`` took; the names of generators saved on another device type.

    Those are seeded from their saved state instead (see ``fit_generator_state``).
    """
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"])
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    return [
        name
        for name, gen in generators.items()
        if name in state["generators"] and not fit_generator_state(state["generators"][name], gen)
    ]
