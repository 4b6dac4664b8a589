"""A plain re-creation of the course reference's training loop, the baseline of the benchmarks.

A ``Dataset`` over JPEG files (label from the ``<class>_`` file-name prefix), a ``DataLoader``
with 2 workers and shuffling, Adam, and a ``.item()`` host sync every step for the running
loss and accuracy, as the reference does. Benchmarks only: the package never imports this.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import functional as TF


class PrefixLabelledImages(Dataset):
    """Every ``<class>_*.jpg`` in a folder; the label is the class's index in ``classes``."""

    def __init__(self, folder: Path, classes: list[str]) -> None:
        self.files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        index = {name: i for i, name in enumerate(classes)}
        # Longest prefix first, so that a class named "a_b" wins over "a".
        by_length = sorted(classes, key=len, reverse=True)
        self.labels = [index[next(c for c in by_length if p.name.startswith(c + "_"))] for p in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = Image.open(self.files[i]).convert("RGB")
        tensor = TF.normalize(TF.to_tensor(image), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
        return tensor, self.labels[i]


def make_loader(folder: Path, classes: list[str], batch_size: int = 16, workers: int = 2, seed: int = 1) -> DataLoader:
    """The reference's loader: shuffled, ``workers`` worker processes."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        PrefixLabelledImages(folder, classes),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        generator=generator,
        persistent_workers=workers > 0,
    )


def train_epoch(
    model: torch.nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device
) -> dict:
    """One epoch the reference's way; returns seconds, images, mean loss and accuracy."""
    model.train()
    running_loss, correct, seen = 0.0, 0, 0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item() * labels.shape[0]  # the per-step host sync
        correct += (logits.argmax(1) == labels).sum().item()
        seen += labels.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": seen, "loss": running_loss / seen, "acc": correct / seen}
