"""Tests for ffscribe.core.batch.fetch: real yt-dlp downloads from a local HTTP server on 127.0.0.1,
decoded by real ffmpeg; temporary downloads must be gone afterwards, whatever happened."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ffscribe.core.batch import download
from ffscribe.core.batch.fetch import FetchOptions, fetched, ytdlp_message
from ffscribe.core.batch.inputs import Input, resolve
from ffscribe.core.data.errors import Cancelled, InputError
from ffscribe.core.data.transcript import Source
from ffscribe.core.media import ffmpeg as media
from tests.core.httpserver import MEDIA, LocalServer, Route, no_proxies, redirect

SPEECH_SECONDS = 5.77  # speech.mp3 decodes to this; video.mp4's audio is 5.80 s


@pytest.fixture(autouse=True)
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary folder, so a test can see that nothing was left behind in it."""
    no_proxies(monkeypatch)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def url_input(url: str) -> Input:
    return Input(Source("url", url), "x", None, None)


def check_download(item: Input, scratch: Path) -> list[tuple[float, float | None]]:
    """Fetch `item`, decode it, and check the download is gone afterwards; returns progress."""
    calls: list[tuple[float, float | None]] = []
    with fetched(item, progress=lambda done, total: calls.append((done, total))) as path:
        assert Path(path).is_file() and Path(path).parent.name.startswith("ffscribe-")
        assert Path(path).parent.parent == scratch
        assert media.load(path).duration == pytest.approx(SPEECH_SECONDS, abs=0.1)
    assert not Path(path).exists() and list(scratch.iterdir()) == []
    return calls


def test_a_local_input_is_its_own_path(scratch: Path) -> None:
    [item] = resolve([str(MEDIA / "speech.mp3")])
    with fetched(item) as path:
        assert path == str(MEDIA / "speech.mp3")
    assert Path(path).exists() and list(scratch.iterdir()) == []


def test_a_direct_media_url_is_downloaded_then_removed(server: LocalServer, scratch: Path) -> None:
    [item] = resolve([server.url("/media/speech.mp3")])
    calls = check_download(item, scratch)
    size = (MEDIA / "speech.mp3").stat().st_size
    assert calls and calls[-1] == (size, size)
    assert all(done <= size for done, _ in calls)


def test_a_page_with_a_video_element_is_downloaded(server: LocalServer, scratch: Path) -> None:
    [item] = resolve([server.url("/media/video.html")])
    check_download(item, scratch)
    assert "/media/video.mp4" in [p for _, p in server.requests]


def test_a_page_with_an_audio_source_is_downloaded(server: LocalServer, scratch: Path) -> None:
    check_download(url_input(server.url("/media/audio.html")), scratch)


def test_a_feed_item_is_downloaded(server: LocalServer, scratch: Path) -> None:
    items = resolve([server.url("/feed.rss")])
    middle = next(i for i in items if i.source.title == "Middle episode")
    check_download(middle, scratch)


def test_the_download_is_removed_when_the_block_raises(server: LocalServer, scratch: Path) -> None:
    with (
        pytest.raises(KeyboardInterrupt),
        fetched(url_input(server.url("/media/speech.mp3"))) as path,
    ):  # as Ctrl-C would, mid-transcription
        assert Path(path).is_file()
        raise KeyboardInterrupt
    assert list(scratch.iterdir()) == []


def test_a_gone_enclosure_raises_input_error_naming_the_404(
    server: LocalServer, scratch: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    gone = next(i for i in resolve([server.url("/feed.rss")]) if i.source.title == "Gone")
    with pytest.raises(InputError) as caught, fetched(gone):
        pytest.fail("nothing should be yielded")
    assert caught.value.message == "HTTP 404 Not Found"
    assert caught.value.path == gone.source.uri
    assert list(scratch.iterdir()) == []
    assert capfd.readouterr().err == ""  # yt-dlp's own error went to logging, not stderr


def test_an_unsupported_page_raises_input_error(server: LocalServer, scratch: Path) -> None:
    with pytest.raises(InputError) as caught, fetched(url_input(server.url("/plain.html"))):
        pass
    assert caught.value.message == "Unsupported URL"
    assert list(scratch.iterdir()) == []


def test_an_input_with_an_error_raises_it_without_fetching(server: LocalServer) -> None:
    [item] = resolve([server.url("/missing.mp3")])
    before = len(server.requests)
    with pytest.raises(InputError, match="HTTP 404 Not Found"), fetched(item):
        pass
    assert len(server.requests) == before


def test_a_refused_scheme_is_never_fetched() -> None:
    with (
        pytest.raises(InputError, match="only http and https"),
        fetched(url_input("file:///etc/passwd")),
    ):
        pass


def test_yt_dlp_logs_through_logging(
    server: LocalServer, scratch: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="ffscribe.fetch"),
        fetched(url_input(server.url("/media/video.html"))),
    ):
        pass
    assert any(r.name == "ffscribe.fetch" and "yt-dlp" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "\x1b[0;31mERROR:\x1b[0m [generic] gone: Unable to download webpage: "
            "HTTP Error 404: Not Found (caused by <HTTPError 404: Not Found>)",
            "HTTP Error 404: Not Found",
        ),
        ("ERROR: Unsupported URL: http://127.0.0.1/x", "Unsupported URL: http://127.0.0.1/x"),
        ("ERROR: [youtube] abc: Video unavailable\nmore detail", "Video unavailable"),
    ],
)
def test_yt_dlp_errors_become_one_line(raw: str, clean: str) -> None:
    assert ytdlp_message(Exception(raw)) == clean


@pytest.mark.parametrize("scheme", ["ftp", "file"])
def test_a_redirect_to_another_scheme_is_refused_by_name(
    server: LocalServer, scratch: Path, scheme: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as ftp:  # would see yt-dlp's USER anonymous
        ftp.settimeout(0.2)
        target = f"ftp://127.0.0.1:{ftp.getsockname()[1]}/x.mp3"
        target = target if scheme == "ftp" else "file:///etc/passwd"
        url = server.add(f"/to-{scheme}.mp3", redirect(target))
        for item in (url_input(url), *resolve([url])):
            with pytest.raises(InputError) as caught, fetched(item):
                pass
            assert f"redirected to {scheme}:" in str(caught.value) and url in str(caught.value)
        with pytest.raises(TimeoutError):
            ftp.accept()
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("length", [None, -1])  # told the size up front, or only as it comes
def test_a_body_over_the_cap_fails(server: LocalServer, scratch: Path, length: int | None) -> None:
    url = server.add(f"/big{length}.mp3", Route(b"\0" * (3 << 20), "audio/mpeg", length=length))
    cap = FetchOptions(max_bytes=1 << 20)
    over = r"larger than 1 MiB \(--max-download\)"
    with pytest.raises(InputError, match=over), fetched(url_input(url), options=cap):
        pass
    assert list(scratch.iterdir()) == []


def test_a_trickle_ends_at_the_deadline_and_a_stop_ends_it_sooner(
    server: LocalServer, scratch: Path
) -> None:
    url = server.add("/trickle.mp3", Route(b"x" * 4096 * 40, "audio/mpeg", trickle=0.5, chunk=4096))
    started = time.monotonic()
    late = FetchOptions(deadline=1.0)
    with (
        pytest.raises(InputError, match="--download-deadline"),
        fetched(url_input(url), options=late),
    ):
        pass
    assert time.monotonic() - started < 10  # the whole body takes 20 s
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(Cancelled), fetched(url_input(url), stop=stop):
        pass
    assert list(scratch.iterdir()) == []


DIES = """
import os, sys
from ffscribe.core.batch.download import scratch
held = scratch()  # kept referenced: a collected one would clean up
folder = held.__enter__()
open(os.path.join(folder, "media.mp3.part"), "w").write("half")
print(folder, flush=True)
os._exit(9)  # as a kill -9 would: no clean-up runs
"""


def test_scratch_folders_a_killed_run_left_are_removed(scratch: Path) -> None:
    env = {**os.environ, "TMPDIR": str(scratch)}
    dead = subprocess.run(
        [sys.executable, "-c", DIES], capture_output=True, text=True, env=env, check=False
    )
    left = Path(dead.stdout.strip())
    assert left.parent == scratch and (left / "media.mp3.part").exists()
    old, fresh = scratch / "ffscribe-old", scratch / "ffscribe-fresh"  # an older version's
    old.mkdir()
    fresh.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    with download.scratch() as live:
        assert download.remove_stale_scratch(str(scratch)) == 2
        assert sorted(p.name for p in scratch.iterdir()) == sorted([Path(live).name, fresh.name])
