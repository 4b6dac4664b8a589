"""A dataset's ``manifest.json`` read back."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from msgspec import Meta

from .core import Count, FileSchema, Positive

NEWEST_MANIFEST = 1
"""The newest dataset manifest ``schema`` this vit-tui reads."""


class Manifest(FileSchema):
    """A dataset's ``manifest.json``: what it holds and how it was made."""

    hint: ClassVar[str] = "rebuild the dataset"

    schema: int
    name: str
    source: dict[str, Any]
    options: dict[str, Any]
    classes: Annotated[list[str], Meta(min_length=2)]
    coco_ids: list[int | None]
    counts: dict[str, dict[str, Count]]
    image_size: Positive
    seed: int | None
    created: str
    report: dict[str, Any] = {}

    @classmethod
    def refusal(cls, data: dict[str, Any]) -> tuple[str, str] | None:
        # A newer manifest may hold fields this version does not know: say so before any field check.
        schema = data.get("schema")
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > NEWEST_MANIFEST:
            problem = f"manifest schema {schema} is not supported (this vit-tui reads {NEWEST_MANIFEST})"
            return problem, "upgrade vit-tui"
        return None
