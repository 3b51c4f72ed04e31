"""Shared test setup: committed media fixtures, the tiny.en model, no network, real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.httpserver import LocalServer

MEDIA = Path(__file__).parent / "fixtures" / "media"
TEST_MODEL = "tiny.en"
# Words of speech.* that tiny.en hears every time (tests/fixtures/README.md).
KNOWN_WORDS = ("quick", "fox", "lazy", "world", "test")
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session", autouse=True)
def _hermetic_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No hub downloads, a private cache for joined model packs, and one ffmpeg for the run.

    The ffmpeg is the imageio-ffmpeg wheel's, which every install has, so the suite proves the
    path a pip-only user takes whatever the machine has on PATH; FFSCRIBE_TEST_FFMPEG names
    another build to run the whole suite with (tests/core/test_media.py tries each one found).
    """
    import imageio_ffmpeg

    saved = dict(os.environ)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["FFSCRIBE_CACHE_DIR"] = str(tmp_path_factory.mktemp("ffscribe-cache"))
    for var in ("FFSCRIBE_MODEL", "FFSCRIBE_DEVICE", "FFSCRIBE_OUTPUT_DIR"):
        os.environ.pop(var, None)
    chosen = saved.get("FFSCRIBE_TEST_FFMPEG") or imageio_ffmpeg.get_ffmpeg_exe()
    os.environ["FFSCRIBE_FFMPEG"] = chosen
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    """A real HTTP server on 127.0.0.1 with media, pages, feeds, a 404 and a stall."""
    from tests.core.httpserver import serve_standard

    with LocalServer() as srv:
        serve_standard(srv)
        yield srv


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A scratch copy of the fixture media, so outputs written beside inputs stay in tmp."""
    dest = tmp_path / "media"
    shutil.copytree(MEDIA, dest)
    return dest


def transcribe_exe() -> str:
    """The installed `transcribe` console script of the environment running the tests."""
    exe = BIN / "transcribe"
    return str(exe) if exe.exists() else shutil.which("transcribe") or "transcribe"


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the real `transcribe` command; stdout and stderr captured as text."""
    return subprocess.run(
        [transcribe_exe(), *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
