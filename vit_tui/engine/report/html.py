"""Self-contained HTML from the Markdown reports the program writes (``--format html``).

The reports use a small Markdown subset: headings, pipe tables, paragraphs, images on their own
line, ``**bold**`` and ``code``. Each image is inlined as a base64 ``data:`` URI, so the one HTML
file can be mailed or uploaded on its own; nothing in it points at another file.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ...errors import UserError
from ...files import write_text

IMAGE_LINE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)]+)\)$")
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #c8c8cc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f0f0f3; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f0f0f3; padding: 0 0.25em; border-radius: 3px; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
h1 { border-bottom: 1px solid #d0d0d5; padding-bottom: 0.2em; }
"""


def markdown_file_to_html(md_path: str | Path, html_path: str | Path | None = None) -> Path:
    """Write ``html_path`` (default: beside ``md_path``, ``.html``) from a report; images inlined."""
    md_path = Path(md_path)
    try:
        text = md_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(str(md_path), f"cannot read the report ({exc.strerror or exc}); export it again") from None
    target = Path(html_path) if html_path is not None else md_path.with_suffix(".html")
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), md_path.stem)
    write_text(target, markdown_to_html(text, md_path.parent, title))
    return target


def markdown_to_html(text: str, base_dir: Path, title: str) -> str:
    """The whole HTML page for ``text``; image paths are read relative to ``base_dir``."""
    body: list[str] = []
    paragraph: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if table:
            body.append(_table(table))
            table.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|"):
            if paragraph:
                flush()
            table.append(line)
            continue
        if table:
            flush()
        if not line:
            flush()
        elif line.startswith("#"):
            flush()
            level = min(6, len(line) - len(line.lstrip("#")))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif IMAGE_LINE.match(line):
            flush()
            match = IMAGE_LINE.match(line)
            body.append(_image(match["alt"], match["src"], base_dir))
        else:
            paragraph.append(line)
    flush()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _inline(text: str) -> str:
    # "53.0% ± 1.2%" wraps as one piece in a narrow table cell.
    escaped = html.escape(text, quote=False).replace(" ± ", "\u00a0±\u00a0")
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    header, rows = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>\n" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>"


def _image(alt: str, src: str, base_dir: Path) -> str:
    path = base_dir / src
    kind = IMAGE_TYPES.get(path.suffix.lower())
    try:
        data = path.read_bytes() if kind else None
    except OSError:
        data = None
    if data is None:
        # Said in the page rather than linked: a link would point outside the one file.
        return f"<p><em>(figure {html.escape(src)} is missing; export the report again)</em></p>"
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{kind};base64,{encoded}">'
