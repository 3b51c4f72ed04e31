"""The batch contract against names, templates and folders chosen by someone else: long
names in bytes, bad templates, folders no one (not even root) may write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_MODEL, run_cli
from tests.core.httpserver import MEDIA, LocalServer, Route, rss

M = ("--model", TEST_MODEL)
NO_PROXY = {v: "" for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
EXT_B = "\U00020000\U00020001\U00020002\U00020003"  # 4 bytes each in UTF-8


def _report(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can create files in, root included (tests run as root, where a mode
    of 0o555 stops nothing): the immutable attribute, where the file system has it."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    locked = False
    try:
        (folder / "probe").touch()
    except OSError:
        pass
    else:
        (folder / "probe").unlink()
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(folder)]).returncode != 0:
            pytest.skip("no way to make a folder read-only for this user (chattr +i failed)")
        locked = True
    try:
        yield folder
    finally:
        if locked:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def test_long_names_are_cut_in_bytes_and_stay_stable(
    server: LocalServer, media: Path, tmp_path: Path
) -> None:
    title = EXT_B * 20  # 80 characters, 320 bytes
    url_name = "\u4e00" * 99 + ".mp3"  # 297 bytes
    long_url = server.add_file(urllib.parse.quote("/long/" + url_name), MEDIA / "speech.mp3")
    feed = server.add(
        "/long.rss",
        Route(
            rss([{"title": title, "guid": "cjk", "url": server.url("/media/speech.mp3?cjk")}]),
            "application/rss+xml",
        ),
    )
    local = media / ("x" * 251 + ".wav")  # a legal name whose output's .part name is not
    (media / "speech.wav").rename(local)
    out = tmp_path / "out"
    args = (feed, long_url, local, "-f", "json,txt", "-o", out, *M)
    first = run_cli(*args, "--report", tmp_path / "r1.json", env=NO_PROXY)
    assert first.returncode == 0, first.stderr
    assert "3 done, 0 skipped, 0 failed" in first.stderr
    names = sorted(os.listdir(out))
    assert len(names) == 6 and all(len(os.fsencode(n)) <= 240 for n in names)
    assert any(n.startswith("\U00020000") for n in names)
    again = run_cli(*args, "--report", tmp_path / "r2.json", env=NO_PROXY)
    assert again.returncode == 0, again.stderr
    assert _report(tmp_path / "r2.json")["skipped"] == 3
    assert sorted(os.listdir(out)) == names


@pytest.mark.parametrize(
    "template", ["{stem.nope}.{ext}", "{stem.upper}.{ext}", "{stem[0]}.{ext}", "{stem}"]
)
def test_bad_templates_are_usage_errors(media: Path, template: str) -> None:
    proc = run_cli(media / "speech.wav", "-f", "json,txt,srt", "--template", template, *M)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "--template" in proc.stderr
    assert sorted(p.name for p in media.iterdir()) == sorted(os.listdir(MEDIA))


def test_an_unwritable_folder_fails_before_any_work(
    media: Path, tmp_path: Path, read_only: Path
) -> None:
    # A model that cannot load proves nothing was decoded or transcribed first.
    proc = run_cli(
        media / "speech.wav", "-f", "txt", "-o", read_only, "--model", tmp_path / "no-model"
    )
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1 and "cannot write here" in lines[0] and str(read_only) in lines[0]
    assert os.listdir(read_only) == []


def test_a_report_that_cannot_be_written_is_one_line(
    media: Path, tmp_path: Path, read_only: Path
) -> None:
    proc = run_cli(
        media / "speech.wav",
        "-f",
        "txt",
        "--report",
        read_only / "r.json",
        "--model",
        tmp_path / "no-model",
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "r.json" in proc.stderr and "cannot write" in proc.stderr
    assert not (media / "speech.txt").exists()
