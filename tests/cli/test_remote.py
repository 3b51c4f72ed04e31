"""Remote inputs end to end: real yt-dlp and feed parsing against a server on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import TEST_MODEL, run_cli
from tests.core.httpserver import LocalServer

M = ("--model", TEST_MODEL)
NO_PROXY = {v: "" for v in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


def _media_gets(server: LocalServer) -> int:
    return sum(
        1
        for method, path in server.requests
        if method == "GET" and "/media/" in path and not path.endswith(".html")
    )


def test_a_feed_in_cron(server: LocalServer, tmp_path: Path) -> None:
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    env = {**NO_PROXY, "TMPDIR": str(tmp)}
    feed = server.url("/feed.rss")
    first = run_cli(feed, "-f", "json,txt", "-o", out, *M, env=env)
    # Four episodes: three transcribed, "Gone" is a 404 named in one line.
    assert first.returncode == 1, first.stderr
    assert "3 done, 0 skipped, 1 failed" in first.stderr
    assert "gone.mp3" in first.stderr and "404" in first.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{stem}.{ext}" for stem in {n.rsplit(".", 1)[0] for n in names} for ext in ("json", "txt")
    )
    assert any(n.startswith("2024-01-03-etc-passwd-") for n in names)
    assert all(p.parent == out for p in out.rglob("*"))
    middle = next(out.glob("2024-01-02-middle-episode-*.json"))
    source = json.loads(middle.read_text())["source"]
    assert source["kind"] == "feed-item" and source["title"] == "Middle episode"
    assert source["published"].startswith("2024-01-02") and source["link"].endswith("/episodes/2")
    # (A library other than ours leaves a ".ses" session file in TMPDIR.)
    assert not list(tmp.glob("ffscribe-*")), "temporary downloads left behind"
    gets = _media_gets(server)
    again = run_cli(feed, "-f", "json,txt", "-o", out, *M, env=env)
    assert "0 done, 3 skipped, 1 failed" in again.stderr
    assert _media_gets(server) == gets + 1  # only the 404 is asked for again
    limited = run_cli(feed, "-f", "srt", "-o", out, "--limit", "1", *M, env=env)
    assert limited.returncode == 0 and len(list(out.glob("*.srt"))) == 1


def test_a_page_and_a_media_url(server: LocalServer, tmp_path: Path) -> None:
    proc = run_cli(
        server.url("/media/video.html"),
        server.url("/media/speech.mp3"),
        "-f",
        "txt",
        "-o",
        tmp_path,
        *M,
        env=NO_PROXY,
    )
    assert proc.returncode == 0, proc.stderr
    texts = {p.name: p.read_text().lower() for p in tmp_path.glob("*.txt")}
    assert "speech.txt" in texts and len(texts) == 2
    assert all("fox" in t for t in texts.values())


def test_refused_schemes_and_dead_urls(server: LocalServer, tmp_path: Path) -> None:
    proc = run_cli(
        "file:///etc/passwd",
        "ftp://127.0.0.1/a.mp3",
        server.url("/nothing.mp3"),
        "-f",
        "txt",
        "-o",
        tmp_path,
        *M,
        env=NO_PROXY,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("only http and https") == 2
    assert "nothing.mp3" in proc.stderr and "404" in proc.stderr
    assert os.listdir(tmp_path) == []
