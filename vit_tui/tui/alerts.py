"""Telling the user, in the app, that a run or study it follows has ended or failed.

Three ways, each switchable in ``settings.json``: a Textual notification (``notify_toast``), the
terminal bell (``notify_bell``) and the terminal's desktop notification (``notify_desktop``, OSC 9
or OSC 777 as ``notify_dialect`` says: ``auto``, ``osc9`` or ``osc777``). The bytes are decided
by ``engine.telemetry.notify.notification_text`` and written through the app's terminal driver, so they
reach the terminal in order with the app's own output.
"""

from __future__ import annotations

from typing import Any

from ..engine.telemetry.notify import Notice, notification_text
from .settings import load_settings

DEFAULTS = {"notify_toast": True, "notify_bell": True, "notify_desktop": True, "notify_dialect": "auto"}


def alert_settings() -> dict[str, Any]:
    """The notification settings, each defaulting to on (dialect: auto)."""
    saved = load_settings()
    return {key: saved.get(key, default) for key, default in DEFAULTS.items()}


def announce(app: Any, notice: Notice) -> str:
    """Tell ``notice`` the ways the settings allow; returns the characters written to the terminal."""
    chosen = alert_settings()
    if chosen["notify_toast"]:
        app.notify(notice.body, title=notice.title, severity="error" if notice.bad else "information", timeout=15)
    text = notification_text(
        notice.title,
        notice.body,
        bell=chosen["notify_bell"],
        desktop=chosen["notify_desktop"],
        dialect=chosen["notify_dialect"],
    )
    if text:
        app.alerts.append(text)
        driver = getattr(app, "_driver", None)
        if driver is not None:
            driver.write(text)
            driver.flush()
    return text
