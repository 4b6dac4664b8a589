"""Packaging of the app: every package folder is listed, the theme files and stylesheets ship."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_in_the_explicit_package_list():
    listed = set(_setuptools()["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "vit_tui").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def test_themes_folder_maps_to_vit_tui_themes_with_its_files():
    tools = _setuptools()
    assert tools["package-dir"]["vit_tui.themes"] == "themes"
    assert "*.toml" in tools["package-data"]["vit_tui.themes"]
    assert "*.tcss" in tools["package-data"]["vit_tui.tui"]
    assert {p.name for p in (ROOT / "themes").glob("*.toml")} >= {"dark.toml", "light.toml", "high-contrast.toml"}


def _classes_with_stylesheets() -> list[type]:
    """The app and every screen class in vit_tui.tui (each module imported, so every class is defined)."""
    import importlib
    import pkgutil

    from textual.app import App
    from textual.screen import Screen

    import vit_tui.tui

    for module in pkgutil.walk_packages(vit_tui.tui.__path__, "vit_tui.tui."):
        importlib.import_module(module.name)
    found, pending = [], [App, Screen]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("vit_tui.") and cls.CSS_PATH:
            found.append(cls)
    return found


def test_every_stylesheet_a_screen_or_the_app_names_exists_and_ships():
    import fnmatch
    import inspect

    package_data = _setuptools()["package-data"]
    classes = _classes_with_stylesheets()
    assert {cls.__name__ for cls in classes} >= {"VitApp", "RunsScreen", "EvaluateScreen"}
    for cls in classes:
        paths = cls.CSS_PATH if isinstance(cls.CSS_PATH, list) else [cls.CSS_PATH]
        for name in paths:
            path = (Path(inspect.getfile(cls)).parent / name).resolve()
            assert path.is_file(), f"{cls.__name__}.CSS_PATH names {name}, which is not there"
            package = ".".join(path.parent.relative_to(ROOT).parts)
            patterns = package_data.get(package, [])
            assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), (
                f"{path.relative_to(ROOT)} does not ship: add it to [tool.setuptools.package-data] {package!r}"
            )


@pytest.mark.slow
def test_wheel_ships_themes_and_stylesheet(tmp_path):
    import shutil
    import subprocess

    build_dir = ROOT / "build"
    had_build_dir = build_dir.exists()
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(ROOT),
        "-w",
        str(tmp_path),
        "--no-deps",
        "--no-build-isolation",
    ]
    try:
        done = subprocess.run([*command, "-q"], capture_output=True, text=True, timeout=300)
    finally:
        if not had_build_dir:  # setuptools builds inside the source tree; leave it as it was
            shutil.rmtree(build_dir, ignore_errors=True)
    if done.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {done.stderr.strip().splitlines()[-1:]}")
    wheel = next(tmp_path.glob("vit_tui-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"vit_tui/themes/dark.toml", "vit_tui/themes/light.toml", "vit_tui/themes/high-contrast.toml"} <= names
    assert "vit_tui/tui/app.tcss" in names
