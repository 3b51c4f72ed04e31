"""ruff and mypy (strict) over the project, as CI's gate for style and types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return str(exe)


def test_ruff_is_clean() -> None:
    proc = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean(tmp_path: Path) -> None:
    # The folders install as ffscribe.core/.cli/.formats through an import hook mypy cannot
    # follow, so give it the same namespace as a tree of links.
    tree = tmp_path / "ffscribe"
    tree.mkdir()
    for pkg in ("core", "cli", "formats"):
        (tree / pkg).symlink_to(ROOT / pkg)
    proc = subprocess.run(
        [_tool("mypy"), "--cache-dir", str(tmp_path / "cache"), "-p", "ffscribe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
