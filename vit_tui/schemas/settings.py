"""The app's own files read back: its ``settings.json`` and the doctor's ``--json`` report."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from .core import FileSchema


class Settings(FileSchema):
    """The app's ``settings.json`` (the chosen theme, curve smoothing, how endings are told)."""

    hint: ClassVar[str] = "it is ignored; choose the theme again"

    theme: str | UnsetType = UNSET
    smoothing: Annotated[float, Meta(ge=0.0, lt=1.0)] | UnsetType = UNSET
    """The curves' EMA weight (0, 0.6, 0.9 or 0.99)."""
    notify_toast: bool | UnsetType = UNSET
    """Say in the app when a followed run or study ends (default on)."""
    notify_bell: bool | UnsetType = UNSET
    """Ring the terminal bell then (default on)."""
    notify_desktop: bool | UnsetType = UNSET
    """Send the terminal's desktop notification then (default on)."""
    notify_dialect: Literal["auto", "osc9", "osc777"] | UnsetType = UNSET
    """Which desktop notification the terminal speaks (default auto)."""


class DoctorCheck(Struct):
    """One probe of ``vit-tui doctor``."""

    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str = ""
    seconds: float = 0.0


class DoctorFacts(Struct):
    """The facts the doctor's table shows (more may be there)."""

    torch: str
    cuda_runtime: str | None = None


class DoctorReport(FileSchema):
    """``vit-tui doctor --json FILE``: the machine's facts and the probes run on one device."""

    hint: ClassVar[str] = "run vit-tui doctor again"

    device: str
    facts: DoctorFacts
    checks: list[DoctorCheck]
    exit_code: Literal[0, 1]
