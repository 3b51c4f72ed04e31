"""The batch contract against names, templates and folders chosen by someone else: long
names in bytes, bad templates, folders no one (not even root) may write."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_MODEL, run_cli, transcribe_exe
from tests.core.httpserver import MEDIA, LocalServer, Route, redirect, rss

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


def test_names_in_messages_are_escaped(media: Path, tmp_path: Path) -> None:
    forged = media / "a\ntranscribe: error: forged\x1b[2J.wav"
    (media / "speech.wav").rename(forged)
    missing = media / "gone\x1b[31m\u202e.wav"
    proc = run_cli(forged, missing, "-f", "txt", "-o", tmp_path / "out", "--verbose", *M)
    assert proc.returncode == 1, proc.stderr
    assert "\x1b" not in proc.stderr and "\u202e" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("transcribe: error:")]
    assert len(errors) == 1 and "gone\\x1b[31m\\u202e.wav" in errors[0], proc.stderr
    assert "a\\ntranscribe: error: forged\\x1b[2J.wav" in proc.stderr


def test_a_feed_that_repeats_an_item_still_ends_clean(server: LocalServer, tmp_path: Path) -> None:
    same = {"title": "Same", "guid": "same-id", "pubDate": "Mon, 01 Jan 2024 10:00:00 GMT"}
    items = [
        {**same, "url": server.url("/media/speech.mp3?dup=1")},
        {**same, "url": server.url("/media/speech.mp3?dup=2")},
        {**same, "url": server.url("/media/speech.mp3?dup=1")},  # a true copy: done once
    ]
    feed = server.add("/repeats.rss", Route(rss(items), "application/rss+xml"))
    out = tmp_path / "out"
    first = run_cli(feed, "-f", "txt", "-o", out, *M, env=NO_PROXY)
    assert first.returncode == 0, first.stderr
    assert "2 done, 0 skipped, 0 failed" in first.stderr
    again = run_cli(feed, "-f", "txt", "-o", out, *M, env=NO_PROXY)
    assert again.returncode == 0, again.stderr
    assert "0 done, 2 skipped, 0 failed" in again.stderr


def test_a_closed_stdout_is_a_quiet_stop(media: Path) -> None:
    proc = subprocess.Popen(
        [transcribe_exe(), media / "speech.wav", media / "speech.mp3", "--stdout", "-f", "txt", *M],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first byte, whatever the size
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "error" not in err.lower() and "Traceback" not in err and "Exception" not in err
    assert "1 done" in err


def test_feed_enclosures_that_redirect_or_never_end_fail_one_line_each(
    server: LocalServer, tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as ftp:
        ftp.settimeout(0.2)
        routes = {
            "ftp": redirect(f"ftp://127.0.0.1:{ftp.getsockname()[1]}/x.mp3"),
            "file": redirect("file:///etc/passwd"),
            "huge": Route(b"\0" * (2 << 20), "audio/mpeg", length=-1),
            "trickle": Route(b"x" * 4096 * 40, "audio/mpeg", trickle=0.5, chunk=4096),
        }
        urls = {name: server.add(f"/edge/{name}.mp3", route) for name, route in routes.items()}
        items = [{"title": name, "guid": name, "url": url} for name, url in urls.items()]
        feed = server.add("/edge.rss", Route(rss(items), "application/rss+xml"))
        proc = run_cli(
            feed, "-f", "txt", "-o", tmp_path, "--max-download", "1M",
            "--download-deadline", "1.5", *M, env=NO_PROXY,
        )  # fmt: skip
        with pytest.raises(TimeoutError):
            ftp.accept()  # nothing ever connected to the ftp: target
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("transcribe: error:")]
    assert len(errors) == 4, proc.stderr
    causes = {
        "ftp": "redirected to ftp:",
        "file": "redirected to file:",
        "huge": "--max-download",
        "trickle": "--download-deadline",
    }
    for name, cause in causes.items():
        assert any(urls[name] in ln and cause in ln for ln in errors), (name, proc.stderr)
    assert os.listdir(tmp_path) == []


def test_a_truncated_input_warns_or_with_fail_truncated_fails(media: Path, tmp_path: Path) -> None:
    args = (media / "truncated.mp3", media / "speech.mp3", "-f", "txt", "-o", tmp_path, *M)
    proc = run_cli(*args, "--report", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("transcribe: warning:")]
    assert len(warnings) == 1 and "truncated.mp3" in warnings[0], proc.stderr
    assert "truncated: decoded" in warnings[0] and "s it states" in warnings[0]
    inputs = _report(tmp_path / "r.json")["inputs"]
    assert isinstance(inputs, list) and [bool(i["warnings"]) for i in inputs] == [True, False]
    strict = run_cli(*args, "--fail-truncated", "--overwrite")
    assert strict.returncode == 1, strict.stderr
    assert "1 done, 0 skipped, 1 failed" in strict.stderr
    errors = [ln for ln in strict.stderr.splitlines() if ln.startswith("transcribe: error:")]
    assert len(errors) == 1 and "truncated.mp3" in errors[0] and "--fail-truncated" in errors[0]
