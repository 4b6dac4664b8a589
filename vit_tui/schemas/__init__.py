"""What vit-tui reads back: one typed schema per file it wrote, and one reader that names the file and field.

Every JSON or TOML file the program reads again has a ``msgspec.Struct`` here, grouped by who
writes it: ``runs`` (a run's ``summary.json``, ``evaluation.json``, ``config.toml``),
``datasets`` (``manifest.json``), ``studies`` (``plan.json``, ``study.json``), ``exports`` (the
sidecar ``<model>.json``) and ``settings`` (the app's ``settings.json``, the doctor's report).
``core`` holds the reader (``load``, ``load_dict``, ``decode``) and its one ``SchemaError``.
Importers use the names below: ``schemas.load(path, schemas.Summary)``.
"""

from .core import FileSchema, SchemaError, decode, load, load_dict
from .datasets import NEWEST_MANIFEST, Manifest
from .exports import Sidecar
from .runs import Evaluation, RunConfigFile, Summary
from .settings import DoctorReport, Settings
from .studies import Plan, StudyMarker

__all__ = [
    "NEWEST_MANIFEST",
    "DoctorReport",
    "Evaluation",
    "FileSchema",
    "Manifest",
    "Plan",
    "RunConfigFile",
    "SchemaError",
    "Settings",
    "Sidecar",
    "StudyMarker",
    "Summary",
    "decode",
    "load",
    "load_dict",
]
