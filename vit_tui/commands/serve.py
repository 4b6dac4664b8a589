"""``vit-tui serve``: the same app in a browser, through ``textual-serve``.

For a box reached over SSH: forward one port (``ssh -L 8000:127.0.0.1:8000 box``) and open
``http://127.0.0.1:8000``; each browser tab gets its own app process on the same home folder.
It binds loopback unless told otherwise, because whoever reaches the port drives the app; bound
to any other address it says so on stderr at start.
"""

from __future__ import annotations

import argparse
import errno
import getpass
import ipaddress
import shlex
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UserError
from .common import add_app_command

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve``."""
    parser = add_app_command(subparsers, "serve", run_serve)
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0 lets anyone who "
        "reaches the port drive the app)",
    )
    parser.add_argument("--port", default=DEFAULT_PORT, help=f"TCP port to listen on (default {DEFAULT_PORT})")
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the address browsers use to reach this server, when it is not http://HOST:PORT (a proxy): "
        "an http:// or https:// URL with a host",
    )


def run_serve(args: argparse.Namespace) -> int:
    """Check the options, then serve until Ctrl+C or SIGTERM."""
    home = Path(getattr(args, "home", ".") or ".").expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise UserError(str(home), "--home must be a folder")
    port = _port(args.port)
    _check_public_url(args.public_url)
    addresses = _check_can_listen(args.host, port)
    server_class = _server_class()
    warning = exposure_warning(args.host, port, addresses)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    home.mkdir(parents=True, exist_ok=True)
    server = server_class(app_command(home), host=args.host, port=port, title="vit-tui", public_url=args.public_url)
    try:
        server.serve()
    except OSError as exc:  # the port was taken between the check and the bind
        raise UserError("--port", f"cannot listen on {args.host}:{port}: {exc.strerror or exc}") from None
    return 0


def app_command(home: Path) -> str:
    """The shell command each browser session runs: this Python, this package, the same home folder."""
    return shlex.join([sys.executable, "-m", "vit_tui", "--home", str(home), "app"])


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise UserError("--port", f"{text!r} is not a TCP port; give a number from 1 to 65535, e.g. --port 8000")
    return int(text)


def _check_public_url(url: str | None) -> None:
    """An http(s) URL with a host, or nothing: browsers are sent to it, so a typo would serve a dead page."""
    if url is None:
        return
    why = f"{url[:200]!r} is not an http(s) URL with a host; e.g. --public-url https://box.example.org/vit"
    if not url or any(ch.isspace() for ch in url):
        raise UserError("--public-url", why)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise UserError("--public-url", why) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError("--public-url", why)


def exposure_warning(host: str, port: int, addresses: list[str]) -> str | None:
    """The warning to print when the server listens beyond this machine (``addresses`` are what
    ``host`` resolves to); None when every one is a loopback address."""
    if addresses and all(_is_loopback(address) for address in addresses):
        return None
    return (
        f"vit-tui: warning: serving on {host}:{port}, which other machines can reach: whoever reaches the port "
        f"drives the app and can read and write files as {_user()}; use the default 127.0.0.1 and an SSH tunnel "
        "unless this is what you want"
    )


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 scope (%eth0) is not part of the address
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "this user"


def _check_can_listen(host: str, port: int) -> list[str]:
    """Bind once up front, so a bad host or a taken port is one line here rather than a server traceback.

    Returns the addresses ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError("--host", f"{host!r} is not an address of this machine ({exc}); e.g. 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The server sets SO_REUSEADDR too, so a port that only lingers in TIME_WAIT is not refused.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError("--port", f"{port} is in use; choose another, e.g. --port {port % 65535 + 1}") from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise UserError("--port", f"{port} needs privileges here; choose a port above 1023") from None
            raise UserError("--host", f"cannot listen on {host!r}: {exc.strerror or exc}") from None
    return [str(info[4][0]) for info in infos]


def _server_class():
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError(
            "serve", "needs the textual-serve package; install it with: pip install 'vit-tui[serve]'"
        ) from None
    return Server
