"""The names of a run folder's own files: one list the engine's ``RunFolder``, the output-path
check (``vit_tui.outputs``) and the run lock (``vit_tui.locks``) all read.

A run folder ``runs/<name>/`` holds ``config.toml``, ``summary.json``, ``metrics.csv``, ``steps.csv``,
``events.jsonl``, the exports (``evaluation.json``, ``confusion_matrix.csv/png``, ``curves.png``,
``report.md``/``.html``), a detached or study child's log, a study run's ``study.json``, the
lock and reservation markers, and ``weights/``. Only ``vit_tui.engine.runs.RunFolder`` builds
paths from these names. No imports: every layer may read it.
"""

from __future__ import annotations

CONFIG_FILE = "config.toml"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.csv"
STEPS_FILE = "steps.csv"
EVENTS_FILE = "events.jsonl"
EVALUATION_FILE = "evaluation.json"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "curves.png"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
TRAIN_LOG = "train.log"
"""A detached run's own output."""
STUDY_LOG = "study.log"
"""A study child's output."""
STUDY_MARKER = "study.json"
"""Which study a study run belongs to."""
LOCK_FILE = ".lock"
RESERVED_MARKER = ".reserved"
"""A folder reserved for a run whose process is starting."""
WEIGHTS_DIR = "weights"
WEIGHTS_SUFFIX = ".pt"

OWN_FILES = frozenset(
    {
        CONFIG_FILE,
        SUMMARY_FILE,
        METRICS_FILE,
        STEPS_FILE,
        EVENTS_FILE,
        EVALUATION_FILE,
        CONFUSION_CSV,
        CONFUSION_PNG,
        CURVES_PNG,
        REPORT_MD,
        REPORT_HTML,
        TRAIN_LOG,
        STUDY_LOG,
        STUDY_MARKER,
        LOCK_FILE,
        RESERVED_MARKER,
    }
)
"""A run folder's own files (its ``weights/`` folder is its own too)."""
SIGNS = (CONFIG_FILE, SUMMARY_FILE, RESERVED_MARKER)
"""Any of these makes a folder a run folder."""
