"""``vit-tui serve``: bad options are one line and exit 2; the served page shows the app in headless Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import Browser, find_chromium, kill_group

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT_ENV = "VIT_TUI_SERVE_SCREENSHOT"
"""Where to copy the page's screenshot for a person to look at (default: only the test's temp folder)."""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def _vit_tui(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vit_tui", *args], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _assert_one_line_refusal(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert all(word in lines[0] for word in words), lines[0]


def test_bad_port_and_host_are_refused_in_one_line(tmp_path):
    _assert_one_line_refusal(_vit_tui("--home", str(tmp_path), "serve", "--port", "eighty"), "--port", "'eighty'")
    _assert_one_line_refusal(_vit_tui("--home", str(tmp_path), "serve", "--port", "65536"), "--port", "1 to 65535")
    # 192.0.2.1 is reserved for documentation: no interface here has it, so binding fails without any traffic.
    _assert_one_line_refusal(_vit_tui("--home", str(tmp_path), "serve", "--host", "192.0.2.1"), "--host", "192.0.2.1")


def test_a_port_in_use_is_refused_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _vit_tui("--home", str(tmp_path), "serve", "--port", str(port), timeout=30)
    _assert_one_line_refusal(result, "--port", f"{port} is in use")


def test_without_textual_serve_it_says_how_to_install_it(tmp_path):
    # None in sys.modules makes the import fail just as a missing package does.
    code = (
        "import sys; sys.modules['textual_serve'] = None; from vit_tui.cli import main; "
        f"sys.exit(main(['--home', {str(tmp_path)!r}, 'serve', '--port', '{_free_port()}']))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env())
    _assert_one_line_refusal(result, "textual-serve", "pip install 'vit-tui[serve]'")


@pytest.mark.slow
async def test_served_app_renders_its_first_screen_in_chromium(tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium package)")
    home = tmp_path / "a home"  # a space in the path: the served command must quote it
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vit_tui", "--home", str(home), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
        start_new_session=True,  # the server and each app it starts share one group, ended together below
    )
    browser = None
    try:
        _wait_for_listener(port, server)
        browser = await Browser.start(chromium, f"http://127.0.0.1:{port}/", tmp_path / "profile")
        screen = await browser.wait_for_text("No datasets in", timeout_s=90)
        await browser.screenshot(tmp_path / "served.png")
        if os.environ.get(SCREENSHOT_ENV):
            Path(os.environ[SCREENSHOT_ENV]).write_bytes((tmp_path / "served.png").read_bytes())
        assert "Datasets" in screen and "Build from COCO" in screen, screen
        assert f"No datasets in {home / 'data'}" in screen, screen
        assert "No dataset yet" in screen, screen  # the demo offer the app opens with on an empty home
        assert (tmp_path / "served.png").stat().st_size > 10_000
    finally:
        if browser is not None:
            await browser.close()
        kill_group(server)
    assert _group_is_empty(server.pid), "the server left an app process behind"


def _wait_for_listener(port: int, server: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"vit-tui serve exited early: {server.stdout.read().decode(errors='replace')}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"vit-tui serve did not listen on port {port} within {timeout_s:.0f} s")


def _group_is_empty(pgid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False
