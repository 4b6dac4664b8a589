"""Headless Chromium for tests, driven over the DevTools protocol (through aiohttp, which textual-serve brings).

``Browser.start(url, profile_dir)`` opens a page; ``terminal_text()`` reads what the page's xterm.js
terminal shows (it draws on a canvas, so the text is read from the terminal's buffer, found among
the page's objects); ``screenshot(path)`` saves a PNG. ``close()`` ends Chromium's whole process group.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)

# Finds the textual-serve terminal (the object holding both the xterm Terminal and the websocket) among
# every object of the page and returns the lines of its screen.
READ_TERMINAL = """function() {
    const owner = this.find(o => o && o.terminal && o.terminal.buffer && 'socket' in o);
    if (!owner) return null;
    const term = owner.terminal, buffer = term.buffer.active, lines = [];
    for (let row = 0; row < term.rows; row++) {
        const line = buffer.getLine(buffer.viewportY + row);
        lines.push(line ? line.translateToString(true) : '');
    }
    return lines.join('\\n');
}"""


class DevToolsError(RuntimeError):
    """Chromium refused a command (while the page still loads, its objects come and go)."""


def find_chromium() -> str | None:
    """The Chromium executable on PATH, if any."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page, spoken to over a DevTools websocket."""

    def __init__(self, process: subprocess.Popen, session: aiohttp.ClientSession, socket) -> None:
        self.process = process
        self._session = session
        self._socket = socket
        self._ids = itertools.count(1)

    @classmethod
    async def start(cls, executable: str, url: str, profile_dir: Path, size: tuple[int, int] = (1280, 800)) -> Browser:
        """Start Chromium on ``url`` and connect to its page."""
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={size[0]},{size[1]}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so close() ends the renderers too
        )
        session = aiohttp.ClientSession()
        try:
            port = await _devtools_port(profile_dir, process)
            page_ws = await _page_websocket(session, port)
            socket = await session.ws_connect(page_ws, max_msg_size=0)
        except BaseException:
            await session.close()
            kill_group(process)
            raise
        return cls(process, session, socket)

    async def call(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events in between are dropped)."""
        message_id = next(self._ids)
        await self._socket.send_json({"id": message_id, "method": method, "params": params})
        while True:
            reply = await self._socket.receive_json(timeout=30)
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply["result"]

    async def terminal_text(self) -> str | None:
        """The terminal's screen as text, or None before the page's terminal exists."""
        prototype = await self.call("Runtime.evaluate", expression="Object.prototype")
        objects = await self.call("Runtime.queryObjects", prototypeObjectId=prototype["result"]["objectId"])
        try:
            result = await self.call(
                "Runtime.callFunctionOn",
                objectId=objects["objects"]["objectId"],
                functionDeclaration=READ_TERMINAL,
                returnByValue=True,
            )
        finally:
            await self.call("Runtime.releaseObjectGroup", objectGroup="")
        return result["result"].get("value")

    async def wait_for_text(self, wanted: str, timeout_s: float) -> str:
        """Poll the terminal until ``wanted`` shows; the last screen read is returned either way."""
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(DevToolsError):  # the page navigated between two commands
                text = await self.terminal_text() or ""
            if wanted in text:
                return text
            await asyncio.sleep(0.5)
        return text

    async def screenshot(self, path: Path) -> None:
        """Save the page as a PNG."""
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._socket.close()
        await self._session.close()
        kill_group(self.process)


async def _devtools_port(profile_dir: Path, process: subprocess.Popen, timeout_s: float = 30.0) -> int:
    """Chromium writes the port it chose into ``DevToolsActivePort`` in its profile."""
    marker = profile_dir / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with code {process.returncode}")
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.1)
    raise TimeoutError("chromium did not open its DevTools port")


async def _page_websocket(session: aiohttp.ClientSession, port: int, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [target for target in await response.json() if target.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        await asyncio.sleep(0.1)
    raise TimeoutError("chromium opened no page")


def kill_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End a process started with ``start_new_session`` and everything it started: TERM, then KILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace_s)
    # Children may outlive the leader (a served app, a renderer): the group goes either way.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace_s)
