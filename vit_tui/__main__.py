"""``python -m vit_tui``: the same entry point as the ``vit-tui`` command."""

from .cli import main

raise SystemExit(main())
