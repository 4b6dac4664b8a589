"""TensorBoard and Weights & Biases, fed from the engine's event stream (``train.log_to``).

``open_trackers(run_dir, cfg, warn, figures)`` returns a sink for the trainer to tee its events into. It
reads only the numbers the events already carry, so logging adds no host sync to training:

- every log point (``StepsLogged``, x axis ``global_step``): ``step/loss``, ``step/acc``,
  ``step/lr``, ``step/images_per_s``;
- every epoch (``EpochEnded``, x axis ``epoch``): ``train/loss``, ``train/acc``, ``val/loss``,
  ``val/acc``, ``train/lr``, ``train/images_per_s``;
- at the start, the config (TensorBoard text, W&B config) and a grid of training images
  (``data/samples``); at a finished run's end, ``eval/confusion_matrix`` and ``eval/curves``
  (the run's exported PNGs) and the config as hyperparameters with the final accuracies.

TensorBoard event files go to ``<run>/tb/``. W&B runs offline unless ``WANDB_MODE`` says
otherwise (no network, no account); its files go to ``<run>/wandb/`` and ``wandb sync`` uploads
them later. A tracker that fails (at start or mid-run) is dropped with one warning event;
training goes on (TensorBoard's writer thread does not print the failure a second time). The tracker packages are imported only when a run asks for them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ... import config as config_mod
from ...config import RunConfig
from .events import EpochEnded, EvalDone, Event, PhaseChanged, RunFailed, RunFinished, RunStarted, Sink, StepsLogged

TB_DIR = "tb"
SAMPLES_PER_CLASS = 4
STEP_AXIS, EPOCH_AXIS = "global_step", "epoch"


class TensorBoardTracker:
    """Writes ``<run>/tb/`` with ``torch.utils.tensorboard`` (needs the ``tensorboard`` package)."""

    name = "tensorboard"

    def __init__(self, run_dir: Path, cfg: RunConfig) -> None:
        from torch.utils.tensorboard import SummaryWriter

        quiet_tensorboard_threads()
        self.writer = SummaryWriter(log_dir=str(run_dir / TB_DIR), flush_secs=10)
        self.writer.add_text("config", "```toml\n" + config_mod.dumps(cfg) + "```", 0)

    def scalars(self, values: dict[str, float], axis: str, step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, png: Path, step: int) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(png) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        self.writer.add_image(tag, pixels, step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def finish(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        # Into this same folder: SummaryWriter.add_hparams would open a sub-folder as a second run.
        for summary in hparams_summaries(hparams, metrics):
            self.writer.file_writer.add_summary(summary)
        self.scalars(metrics, "", 0)

    def close(self) -> None:
        self.writer.close()


def quiet_tensorboard_threads() -> None:
    """Drop the traceback TensorBoard's writer thread prints when a write fails; other threads' stay.

    The writer keeps that error and raises it again in the training thread at the next write,
    where the tracker is dropped with one warning: the thread's own traceback would say it twice.
    """
    previous = threading.excepthook
    if getattr(previous, "quiets_tensorboard", False):
        return

    def hook(args: Any) -> None:
        if args.thread is not None and type(args.thread).__module__.startswith("tensorboard."):
            return
        previous(args)

    hook.quiets_tensorboard = True  # type: ignore[attr-defined]
    threading.excepthook = hook


class WandbTracker:
    """A W&B run in ``<run>/wandb/``, offline unless ``WANDB_MODE`` is set (needs ``wandb``)."""

    name = "wandb"

    def __init__(self, run_dir: Path, cfg: RunConfig) -> None:
        import wandb

        self.wandb = wandb
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "vit-tui"),
            name=run_dir.name,
            dir=str(run_dir),
            mode=os.environ.get("WANDB_MODE") or "offline",
            config=config_mod.to_dict(cfg),
            settings=wandb.Settings(silent=True, console="off"),
        )
        for axis, prefixes in ((STEP_AXIS, ("step/*",)), (EPOCH_AXIS, ("train/*", "val/*", "eval/*"))):
            self.run.define_metric(axis)
            for prefix in prefixes:
                self.run.define_metric(prefix, step_metric=axis)

    def scalars(self, values: dict[str, float], axis: str, step: int) -> None:
        self.run.log({axis: step, **values})

    def image(self, tag: str, png: Path, step: int) -> None:
        from PIL import Image

        with Image.open(png) as picture:
            self.run.log({EPOCH_AXIS: step, tag: self.wandb.Image(picture.convert("RGB"))})

    def flush(self) -> None:
        """W&B writes as it goes."""

    def finish(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        self.run.summary.update(metrics)

    def close(self) -> None:
        self.run.finish()
        # Offline, finish() returns before the records reach the run's file; stopping wandb's
        # service writes them, so the folder is complete once training returns.
        self.wandb.teardown()


TRACKER_TYPES: dict[str, Callable[[Path, RunConfig], Any]] = {
    "tensorboard": TensorBoardTracker,
    "wandb": WandbTracker,
}


class TrackerSink:
    """Turns events into tracker calls; a tracker that raises is closed and dropped, with one warning."""

    def __init__(self, run_dir: Path, cfg: RunConfig, warn: Sink, figures: Mapping[str, Path]) -> None:
        self.run_dir, self.cfg, self.warn = Path(run_dir), cfg, warn
        self.figures = dict(figures)
        self.trackers: list[Any] = []
        self.eval_accuracy: float | None = None

    def _start(self) -> None:
        # On RunStarted, so that a tracker's warning follows the run's first event in events.jsonl.
        for name in self.cfg.train.log_to:
            try:
                self.trackers.append(TRACKER_TYPES[name](self.run_dir, self.cfg))
            except Exception as exc:  # noqa: BLE001 - a tracker never stops training
                self._warn(name, "could not start", exc)
        if self.trackers:
            self._log_samples()

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted) and not self.trackers:
            self._start()
            return
        if not self.trackers:
            return
        if isinstance(event, StepsLogged):
            values = {"step/loss": event.loss, "step/acc": event.acc, "step/lr": event.lr}
            values["step/images_per_s"] = event.images_per_s
            self._each(lambda t: t.scalars(values, STEP_AXIS, event.global_step))
        elif isinstance(event, EpochEnded):
            self._each(lambda t: (t.scalars(_epoch_values(event), EPOCH_AXIS, event.epoch), t.flush()))
        elif isinstance(event, EvalDone):
            self.eval_accuracy = event.accuracy
        elif isinstance(event, RunFinished):
            if event.status == "finished":
                self._log_finished(event)
            self.close()
        elif isinstance(event, RunFailed):
            self.close()

    def close(self) -> None:
        """Close every tracker (files flushed, the W&B run finished)."""
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            try:
                tracker.close()
            except Exception as exc:  # noqa: BLE001
                self._warn(tracker.name, "could not finish", exc)

    def _each(self, action: Callable[[Any], object]) -> None:
        for tracker in list(self.trackers):
            try:
                action(tracker)
            except Exception as exc:  # noqa: BLE001 - a tracker never stops training
                self.trackers.remove(tracker)
                with contextlib.suppress(Exception):
                    tracker.close()
                self._warn(tracker.name, "stopped", exc)

    def _warn(self, name: str, what: str, exc: Exception) -> None:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        self.warn(PhaseChanged("warning", f"{name} logging {what} ({reason}); training goes on without it"))

    def _log_samples(self) -> None:
        """A grid of training images per class, drawn by the dataset preview."""
        from ...data.preview import write_samples

        with tempfile.TemporaryDirectory(dir=self.run_dir, prefix=".samples-") as folder:
            png = Path(folder) / "samples.png"
            try:
                write_samples(self.cfg.data.dataset, png, per_class=SAMPLES_PER_CLASS, seed=self.cfg.train.seed)
            except Exception as exc:  # noqa: BLE001 - the picture is a nicety; the curves matter
                self._warn("sample grid", "skipped", exc)
                return
            self._each(lambda t: t.image("data/samples", png, 0))

    def _log_finished(self, event: RunFinished) -> None:
        for name, png in self.figures.items():
            tag = f"eval/{name}"
            if png.is_file():
                self._each(lambda t, tag=tag, png=png: t.image(tag, png, event.epochs_done))
        metrics = {"hparam/best_val_acc": event.best_val_acc, "hparam/final_val_acc": event.final_val_acc}
        if self.eval_accuracy is not None:
            metrics["hparam/eval_accuracy"] = self.eval_accuracy
        hparams = flat_hparams(self.cfg)
        self._each(lambda t: t.finish(hparams, metrics))


def _epoch_values(event: EpochEnded) -> dict[str, float]:
    return {
        "train/loss": event.train_loss,
        "train/acc": event.train_acc,
        "val/loss": event.val_loss,
        "val/acc": event.val_acc,
        "train/lr": event.lr,
        "train/images_per_s": event.images_per_s,
    }


def flat_hparams(cfg: RunConfig) -> dict[str, Any]:
    """``section.key`` -> value, lists as text (hyperparameters are numbers, text or booleans)."""
    flat: dict[str, Any] = {"preset": cfg.preset}
    for section, values in config_mod.to_dict(cfg).items():
        if isinstance(values, dict):
            for key, value in values.items():
                flat[f"{section}.{key}"] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return flat


def open_trackers(
    run_dir: str | os.PathLike, cfg: RunConfig, warn: Sink, figures: Mapping[str, Path]
) -> TrackerSink:
    """The sink feeding the trackers ``cfg.train.log_to`` names (a no-op sink when it names none).

    ``figures`` names the run's report images logged when it finishes (``eval/<name>``).
    """
    return TrackerSink(Path(run_dir), cfg, warn, figures)
