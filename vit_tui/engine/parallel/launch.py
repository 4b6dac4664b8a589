"""Starting a data-parallel run through torchrun: ``vit-tui train --nproc-per-node N [--nnodes M ...]``.

``run_launcher`` starts ``python -m torch.distributed.run ... -m vit_tui train ...`` in its own
session and turns a Ctrl+C or SIGTERM into a stop file that every process checks, so each rank
stops at the same step and one resumable checkpoint is written. The ranks hand the run's exit
code back through a file, and exit 0 to torchrun for an orderly end (finished or interrupted),
which torchrun would otherwise report as a crash. torch is imported only to count the GPUs a
launch may use (``check_launch``): the launcher stays light.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ...config import ConfigError
from ...errors import UserError
from ...files import write_text

STOP_FILE_ENV = "VIT_TUI_STOP_FILE"
EXIT_FILE_ENV = "VIT_TUI_EXIT_FILE"
LAUNCHER_PID_ENV = "VIT_TUI_LAUNCHER_PID"
RDZV_ID = "vit-tui"
# Workers get this long to save their checkpoint after a stop before torchrun kills them.
SHUTDOWN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: global rank, number of processes, rank on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def ranks_from_env(environ: Mapping[str, str] | None = None) -> Ranks:
    """The ranks torchrun put in the environment (RANK, WORLD_SIZE, LOCAL_RANK); one process otherwise."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Ranks()
    return Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))


def usable_cores() -> int:
    """The cores this process may run on: its affinity mask, which ``taskset`` or a container narrows."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


def most_processes(device_type: str, visible_gpus: int, cores: int) -> int:
    """How many processes one machine may start: one per visible GPU on CUDA, one per usable core on the CPU.

    More would not train faster, only share the same devices; and each process holds a copy of
    the model and the data, so a thousand of them exhaust the memory before training starts.
    """
    return visible_gpus if device_type == "cuda" else max(1, cores)


def check_processes_per_node(nproc_per_node: int, device_type: str, visible_gpus: int, cores: int) -> None:
    """A ``UserError`` when ``--nproc-per-node`` asks this machine for more processes than it has devices."""
    if device_type not in ("cpu", "cuda"):
        raise ConfigError("train.device", f"{device_type} cannot train data-parallel; use cpu or cuda")
    most = most_processes(device_type, visible_gpus, cores)
    if nproc_per_node <= most:
        return
    if device_type == "cuda":
        has, unit = f"{visible_gpus} visible GPU{'s' if visible_gpus != 1 else ''}", "GPU"
    else:
        has, unit = f"{cores} usable CPU core{'s' if cores != 1 else ''}", "core"
    raise UserError(
        "--nproc-per-node", f"is {nproc_per_node}, but this machine has {has}; use at most {most} (one per {unit})"
    )


def device_type_and_gpus(device: str) -> tuple[str, int]:
    """(the device type ``train.device`` picks here, the number of CUDA devices this process sees).

    torch is imported only when the setting may mean a GPU (to count them); ``cpu`` needs none.
    """
    if device == "cpu":
        return "cpu", 0
    from ..device.placement import resolve_device, visible_devices

    return resolve_device(device).type, visible_devices()


def check_launch(launch: Launch, device: str, batch_size: int) -> Launch:
    """``launch`` checked before torchrun starts: its options, the processes per machine, the global batch.

    The process count comes first, so the batch message never suggests a split that is then refused.
    """
    launch.check()
    if launch.nproc_per_node > 1:
        device_type, gpus = device_type_and_gpus(device)
        check_processes_per_node(launch.nproc_per_node, device_type, gpus, usable_cores())
    check_batch_divisible(batch_size, launch.world_size)
    return launch


def check_batch_divisible(batch_size: int, world_size: int) -> None:
    """``train.batch_size`` is the global batch: refuse one the processes cannot share evenly."""
    if world_size > 1 and batch_size % world_size:
        lower = max(world_size, batch_size // world_size * world_size)
        raise ConfigError(
            "train.batch_size",
            f"{batch_size} is the global batch and must divide evenly among the {world_size} processes; "
            f"use a multiple of {world_size}, e.g. --set train.batch_size={lower}",
        )



_ENDPOINT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


@dataclass(frozen=True)
class Launch:
    """How many processes to start through torchrun, on how many machines."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str = ""

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def check(self) -> Launch:
        """This launch, or a ``UserError`` naming the option that is wrong."""
        if self.nproc_per_node < 1:
            raise UserError("--nproc-per-node", f"is {self.nproc_per_node}; use 1 or more processes per machine")
        if self.nnodes < 1:
            raise UserError("--nnodes", f"is {self.nnodes}; use 1 or more machines")
        if not 0 <= self.node_rank < self.nnodes:
            raise UserError("--node-rank", f"is {self.node_rank}; use 0 .. {self.nnodes - 1} (one per machine)")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise UserError("--rdzv-endpoint", "is needed with --nnodes > 1: HOST:PORT of the machine with --node-rank 0")
        if self.rdzv_endpoint and not _ENDPOINT.match(self.rdzv_endpoint):
            raise UserError("--rdzv-endpoint", f"{self.rdzv_endpoint!r} is not HOST:PORT, e.g. 10.0.0.1:29400")
        return self

    def torchrun_args(self) -> list[str]:
        """torchrun's options: standalone on one machine, the c10d rendezvous across several."""
        args = [f"--nproc-per-node={self.nproc_per_node}"]
        if self.nnodes == 1 and not self.rdzv_endpoint:
            return [*args, "--standalone"]
        # The machine with node rank 0 serves the rendezvous store, whatever its host name resolves to.
        host = "true" if self.node_rank == 0 else "false"
        return [
            *args,
            f"--nnodes={self.nnodes}",
            f"--node-rank={self.node_rank}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={self.rdzv_endpoint}",
            f"--rdzv-id={RDZV_ID}",
            f"--rdzv-conf=is_host={host}",
        ]


def torchrun_command(launch: Launch, vit_args: list[str]) -> list[str]:
    """``python -m torch.distributed.run <options> -m vit_tui <vit_args>``."""
    return [sys.executable, "-m", "torch.distributed.run", *launch.torchrun_args(), "-m", "vit_tui", *vit_args]


def worker_env(launch: Launch, control_dir: Path) -> dict[str, str]:
    """The environment of the workers: stop and exit files, the launcher's pid, threads per process."""
    env = {
        **os.environ,
        STOP_FILE_ENV: str(control_dir / "stop"),
        EXIT_FILE_ENV: str(control_dir / "exit"),
        LAUNCHER_PID_ENV: str(os.getpid()),
        "PYTHONUNBUFFERED": "1",
        "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT_S),
    }
    # Set here (torchrun would set 1 and warn): the machine's cores shared among its processes.
    env.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // launch.nproc_per_node)))
    return env


class StopFile:
    """A stop request shared with the workers through a file; ``set``/``is_set`` as on ``threading.Event``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def is_set(self) -> bool:
        return self.path.exists()

    def set(self) -> None:
        self.path.touch()


def run_launcher(
    launch: Launch,
    vit_args: list[str],
    control_dir: Path,
    guard: Callable[[StopFile], contextlib.AbstractContextManager],
) -> int:
    """Run ``vit-tui <vit_args>`` on ``launch.nproc_per_node`` processes here; return the run's exit code.

    torchrun runs in its own session, so a Ctrl+C reaches this launcher alone; ``guard(stop)``
    (the CLI's signal handlers) sets the stop file in ``control_dir``, every rank sees it
    within a step and they stop together, saving one resumable checkpoint.
    """
    env = worker_env(launch, control_dir)
    with guard(StopFile(control_dir / "stop")):
        child = subprocess.Popen(torchrun_command(launch, vit_args), env=env, start_new_session=True)
        code = _wait(child)
    exit_file = control_dir / "exit"
    if exit_file.is_file():
        return int(exit_file.read_text(encoding="utf-8").strip() or 1)
    return code if code != 0 else 1


def _wait(child: subprocess.Popen) -> int:
    """The child's exit code; a signal handler may interrupt the wait, which then goes on."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return child.wait(timeout=0.5)


def report_exit_code(code: int, ranks: Ranks) -> int:
    """Under ``vit-tui train --nproc-per-node``: hand ``code`` to the launcher; the exit code for torchrun.

    torchrun treats any non-zero exit as a crashed worker (and prints a failure report), but a
    run that finished or was interrupted ended so on every rank together: those exit 0.
    """
    path = os.environ.get(EXIT_FILE_ENV)
    if not path:
        return code
    if ranks.local_rank == 0:
        write_text(Path(path), f"{code}\n", mkdir=False)
    # A failure may be one rank's alone (out of memory): its non-zero exit makes torchrun stop the others.
    return 0 if code in (0, 130) else code
