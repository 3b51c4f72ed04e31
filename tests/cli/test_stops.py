"""Stops: the first SIGTERM or SIGINT ends a run within 5 s whatever it is doing (a feed
still being read, downloads trickling or stalled on workers side by side), removes every
temporary file it made, writes --report and exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import TEST_MODEL, transcribe_exe
from tests.core.httpserver import LocalServer, Route, rss

NO_PROXY = {v: "" for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
STOP_SECONDS = 5.0  # what the contract promises (docs/batch-contract.md)


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path]:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, **NO_PROXY, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [transcribe_exe(), *args, "--model", TEST_MODEL, "--report", str(tmp_path / "r.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return proc, scratch


def _stop_and_check(
    proc: subprocess.Popen[str], tmp_path: Path, scratch: Path, *, twice: bool = False
) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    sent = time.monotonic()
    if twice:  # an impatient second signal must not cut the clean-up short
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    took = time.monotonic() - sent
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 130, err
    assert took < STOP_SECONDS, f"stopped after {took:.1f}s"
    assert "interrupted" in err and "Traceback" not in err
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("ffscribe-")]
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["interrupted"] is True and report["exit_code"] == 130


def _wait_for(check: object, seconds: float = 30.0) -> None:
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError("the run never got there")


def test_sigterm_stops_downloads_side_by_side(server: LocalServer, tmp_path: Path) -> None:
    trickle = server.add(
        "/stop/trickle.mp3", Route(b"x" * 4096 * 200, "audio/mpeg", trickle=0.5, chunk=4096)
    )
    stalled = server.add("/stop/stalled.mp3", Route(b"x", "audio/mpeg", delay=60))
    items = [
        {"title": "Trickles", "guid": "t", "url": trickle},
        {"title": "Stalls", "guid": "s", "url": stalled},
    ]
    feed = server.add("/stop/feed.rss", Route(rss(items), "application/rss+xml"))
    proc, scratch = _start(tmp_path, feed, "--jobs", "2", "-f", "txt", "-o", str(tmp_path))
    # Both downloads under way: the trickle's file growing, the stall waiting for headers.
    _wait_for(lambda: len(list(scratch.glob("ffscribe-*/media*"))) == 1)
    _wait_for(lambda: len(server.served("/stop/stalled.mp3")) == 1)
    assert proc.poll() is None
    _stop_and_check(proc, tmp_path, scratch, twice=True)


def test_sigterm_while_a_feed_is_read(server: LocalServer, tmp_path: Path) -> None:
    feed = server.add("/stop/slow.rss", Route(rss([]), "application/rss+xml", delay=60))
    proc, scratch = _start(tmp_path, feed, "-f", "txt", "-o", str(tmp_path))
    _wait_for(lambda: len(server.served("/stop/slow.rss")) == 1)
    _stop_and_check(proc, tmp_path, scratch)


DIES = """
import os
from ffscribe.core.batch.download import scratch
held = scratch()
folder = held.__enter__()
open(os.path.join(folder, "media.mp3.part"), "w").write("half")
os._exit(9)  # as a kill -9 would: no clean-up runs
"""


def test_what_a_kill_9_left_is_removed_by_the_next_run(media: Path, tmp_path: Path) -> None:
    scratch, out = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    subprocess.run([sys.executable, "-c", DIES], env=env, check=False)
    assert len(list(scratch.glob("ffscribe-*/media.mp3.part"))) == 1
    (out / ".speech.ffscribe-lock").write_text("")  # a killed run's lock, held by no one
    (out / ".gone.ffscribe-lock").write_text("")  # and one of an input that is no more
    proc = subprocess.run(
        [transcribe_exe(), str(media / "speech.wav"), "-f", "txt", "-o", str(out),
         "--model", TEST_MODEL],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(out)) == ["speech.txt"]
    assert not list(scratch.glob("ffscribe-*"))
