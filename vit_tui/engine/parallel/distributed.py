"""Data-parallel training on ``torch.distributed``: which process this is, its share of each batch, the collectives.

A run under ``torchrun`` (``torch.distributed.run``) has one process per device. Every process
holds the dataset, draws the same seeded permutation per epoch and trains on its slice of each
global batch (``rank_slice``); ``DistributedDataParallel`` averages the gradients, so a step
over ``world_size`` slices equals a one-process step over the whole batch.

``join_group`` starts the process group (NCCL on CUDA, gloo on the CPU) and returns a
``Group``; a process that torchrun did not start gets a ``Group`` whose collectives are
identities, so the trainer has one code path. Small host-side agreements (stop now? log now? the running sums)
go through a gloo group even under NCCL: they are a few numbers per step and must not wait for
the device.

The launcher that starts such a run is in ``launch`` (it needs no torch). Headless: no textual, no rich.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ...config import ConfigError
from .launch import STOP_FILE_ENV, Ranks

# --- each rank's share ------------------------------------------------------------------------


def rank_slice(order: torch.Tensor, rank: int, world_size: int, batch_size: int) -> torch.Tensor:
    """The indices ``rank`` trains on, in step order, from one epoch's global ``order``.

    Global step ``k`` covers ``order[k*B:(k+1)*B]`` (full batches only); each rank takes its
    contiguous ``B/world_size`` part of it, so the union over ranks of a step is exactly the
    one-process batch. The result's step ``k`` is ``result[k*b:(k+1)*b]`` with ``b = B/world_size``.
    """
    steps = order.shape[0] // batch_size
    per_rank = batch_size // world_size
    return order[: steps * batch_size].view(steps, world_size, per_rank)[:, rank].reshape(-1)


def shard(values: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """A contiguous, nearly equal part of ``values`` along dim 0 (for evaluation; the parts may differ by one)."""
    count = values.shape[0]
    return values[count * rank // world_size : count * (rank + 1) // world_size]


# --- the process group ------------------------------------------------------------------------


class Group:
    """The collectives the trainer needs; identities for a single process (``world_size`` 1)."""

    def __init__(self, ranks: Ranks, device: torch.device, control: Any = None) -> None:
        self.ranks = ranks
        self.device = device
        self._control = control
        self._stop_file = os.environ.get(STOP_FILE_ENV, "")

    @property
    def rank(self) -> int:
        return self.ranks.rank

    @property
    def world_size(self) -> int:
        return self.ranks.world_size

    @property
    def distributed(self) -> bool:
        return self.ranks.distributed

    @property
    def is_main(self) -> bool:
        return self.ranks.is_main

    def stop_requested(self) -> bool:
        """True once the launcher asked this process to stop (its stop file exists)."""
        return bool(self._stop_file) and os.path.exists(self._stop_file)

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true when it is true on any rank: every rank then takes the same branch."""
        if not self.distributed:
            return tuple(flags)
        values = torch.tensor([int(f) for f in flags], dtype=torch.int32)
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.MAX, group=self._control)
        return tuple(bool(v) for v in values.tolist())

    def sum(self, values: list[float]) -> list[float]:
        """The sums over all ranks of host numbers (running loss, hits, images)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(tensor, group=self._control)
        return tensor.tolist()

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (pickled over the control group)."""
        if not self.distributed:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0, group=self._control)
        return box[0]

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        values: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(values, value, group=self._control)
        return values

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model to train: BatchNorm synchronised across ranks on CUDA (see ``README``)."""
        if self.distributed and self.device.type == "cuda":
            # Global-batch statistics, as one process would compute them; gloo has no SyncBatchNorm,
            # so on the CPU each rank normalises with its own slice's statistics.
            return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``DistributedDataParallel(model)`` under torchrun; the model itself otherwise."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def barrier(self) -> None:
        """Wait until every rank got here (the end of a run: no rank leaves while rank 0 still writes)."""
        if self.distributed:
            torch.distributed.barrier(group=self._control)

    def close(self) -> None:
        """Leave the process group."""
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def join_group(ranks: Ranks, device: torch.device) -> Group:
    """Start the process group for ``ranks`` on ``device``'s kind (NCCL on CUDA, gloo on the CPU)."""
    if not ranks.distributed:
        return Group(ranks, device)
    if device.type not in ("cpu", "cuda"):
        raise ConfigError("train.device", f"{device.type} cannot train data-parallel; use cpu or cuda")
    if device.type == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                "--nproc-per-node",
                f"process {ranks.local_rank} has no GPU of its own ({torch.cuda.device_count()} visible); "
                "start at most one process per GPU",
            )
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    control = torch.distributed.new_group(backend="gloo") if backend != "gloo" else None
    return Group(ranks, device, control)
