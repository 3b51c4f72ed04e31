"""Tests for ffscribe.core.batch.inputs: real files and folders, real feedparser and yt-dlp against
a local HTTP server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import io
import shutil
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ffscribe.core.batch.inputs import Input, episode_stem, resolve, slug
from ffscribe.core.batch.outputs import output_path
from ffscribe.core.media.extensions import MEDIA_EXTENSIONS
from tests.core.httpserver import MEDIA, LocalServer, Route, no_proxies, rss


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    no_proxies(monkeypatch)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of audio, video, text, an image, a broken "mp3", hidden names and a loop."""
    root = tmp_path / "archive"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    shutil.copy(MEDIA / "speech.mp3", root / "b talk.mp3")
    shutil.copy(MEDIA / "speech.wav", root / "A.WAV")
    shutil.copy(MEDIA / "video.mp4", root / "sub" / "clip.mp4")
    shutil.copy(MEDIA / "speech.ogg", root / "sub" / "deeper" / "z.ogg")
    shutil.copy(MEDIA / "not_media.mp3", root / "broken.mp3")
    shutil.copy(MEDIA / "speech.mp3", root / ".hidden" / "secret.mp3")
    shutil.copy(MEDIA / "speech.mp3", root / ".dotfile.mp3")
    (root / "notes.txt").write_text("not media\n")
    (root / "cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "talk.json").write_text("{}\n")
    (root / "sub" / "loop").symlink_to("..", target_is_directory=True)
    (root / "sub" / "deeper" / "up").symlink_to(root, target_is_directory=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(MEDIA / "speech.flac", outside / "far.flac")
    (outside / "back").symlink_to(root, target_is_directory=True)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    return root


def locals_of(items: list[Input]) -> list[str | None]:
    return [i.local for i in items]


# --- local files, folders, globs, lists ---------------------------------------------------


def test_a_file_is_one_input_named_by_its_stem(tmp_path: Path) -> None:
    path = tmp_path / "my talk.mp3"
    shutil.copy(MEDIA / "speech.mp3", path)
    [item] = resolve([str(path)])
    assert item.source.kind == "file"
    assert item.source.uri == str(path)
    assert (item.stem, item.local, item.directory, item.error) == (
        "my talk",
        str(path),
        tmp_path,
        None,
    )


def test_a_relative_path_keeps_its_spelling_and_gets_an_absolute_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(MEDIA / "speech.mp3", tmp_path / "a.mp3")
    monkeypatch.chdir(tmp_path)
    [item] = resolve(["a.mp3"])
    assert (item.local, item.directory, item.source.uri) == (
        "a.mp3",
        Path("."),
        str(tmp_path / "a.mp3"),
    )


def test_a_missing_file_is_still_an_input_for_decode_to_report(tmp_path: Path) -> None:
    [item] = resolve([str(tmp_path / "nope.mp3")])
    assert item.local == str(tmp_path / "nope.mp3") and item.error is None


def test_a_directory_is_recursed_for_media_only_in_a_stable_order(tree: Path) -> None:
    with ThreadPoolExecutor(1) as pool:  # a symlink loop must end the walk, not hang it
        items = pool.submit(resolve, [str(tree)]).result(timeout=20)
    # "linked" leads out of the tree: followed; "loop", "up" and "linked/back" lead back: not.
    expected = ["A.WAV", "b talk.mp3", "broken.mp3", "linked/far.flac", "sub/clip.mp4",
                "sub/deeper/z.ogg"]  # fmt: skip
    assert locals_of(items) == [str(tree / p) for p in expected]
    assert [i.stem for i in items] == ["A", "b talk", "broken", "far", "clip", "z"]
    assert items[4].directory == tree / "sub"
    assert all(i.source.kind == "file" and i.error is None for i in items)


def test_include_and_exclude_match_the_relative_path_or_the_name(tree: Path) -> None:
    def names(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
        items = resolve([str(tree)], include=include, exclude=exclude)
        return [Path(i.local or "").name for i in items]

    assert names(include=["*.mp3"]) == ["b talk.mp3", "broken.mp3"]
    assert names(include=["sub/*"]) == ["clip.mp4", "z.ogg"]  # fnmatch's * crosses '/'
    assert names(exclude=["broken*", "sub/deeper/*", "linked"]) == [
        "A.WAV",
        "b talk.mp3",
        "clip.mp4",
    ]
    assert names(include=["*.mp4", "*.ogg"], exclude=["z.*"]) == ["clip.mp4"]
    assert names(exclude=["deeper", "[ab]*"]) == ["A.WAV", "far.flac", "clip.mp4"]  # case counts


def test_media_extensions_are_lower_case_and_leave_out_data_files() -> None:
    assert {".mp3", ".wav", ".m4a", ".opus", ".mp4", ".mkv", ".webm", ".mov"} <= MEDIA_EXTENSIONS
    assert not {".json", ".txt", ".png", ".jpg", ".srt"} & MEDIA_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in MEDIA_EXTENSIONS)


def test_a_quoted_glob_is_expanded_by_the_tool(tree: Path) -> None:
    assert locals_of(resolve([f"{tree}/*.mp3"])) == [
        str(tree / "b talk.mp3"),
        str(tree / "broken.mp3"),
    ]
    deep = resolve([f"{tree}/**/*.ogg"])
    assert locals_of(deep) == [str(tree / "sub" / "deeper" / "z.ogg")]
    [none] = resolve([f"{tree}/*.flac"])
    assert none.error == "no file matches this pattern" and none.local is None


def test_a_name_with_glob_characters_that_exists_is_taken_literally(tmp_path: Path) -> None:
    path = tmp_path / "take [1].mp3"
    shutil.copy(MEDIA / "speech.mp3", path)
    assert locals_of(resolve([str(path)])) == [str(path)]


def test_each_input_is_listed_once(tree: Path) -> None:
    items = resolve([str(tree / "A.WAV"), str(tree), f"{tree}/*.WAV"])
    assert locals_of(items).count(str(tree / "A.WAV")) == 1
    assert len(items) == 6


def test_dash_reads_a_newline_separated_list(tree: Path) -> None:
    listing = f"{tree / 'A.WAV'}\n\n{tree / 'sub'}\r\n{tree / 'b talk.mp3'}\n"
    items = resolve(["-"], stdin=io.StringIO(listing))
    expected = [
        tree / "A.WAV",
        tree / "sub" / "clip.mp4",
        tree / "sub/deeper/z.ogg",
        tree / "b talk.mp3",
    ]
    assert locals_of(items) == [str(p) for p in expected]


def test_dash_with_null_reads_nul_separated_names(tmp_path: Path) -> None:
    odd = tmp_path / "line\nbreak.mp3"
    shutil.copy(MEDIA / "speech.mp3", odd)
    listing = f"{odd}\0\0{tmp_path / 'x*.mp3'}\0"
    items = resolve(["-"], stdin=io.StringIO(listing), null=True)
    # Names from a list are taken literally: "x*.mp3" is a (missing) file, not a pattern.
    assert locals_of(items) == [str(odd), str(tmp_path / "x*.mp3")]
    assert [i.error for i in items] == [None, None]


def test_pipe_is_standard_input() -> None:
    [item] = resolve(["pipe:"])
    assert item == Input(item.source, "stdin", "pipe:", None)
    assert (item.source.kind, item.source.uri) == ("pipe", "pipe:")


@pytest.mark.parametrize(
    "arg",
    ["file:///etc/passwd", "ftp://127.0.0.1/a.mp3", "data:audio/mpeg;base64,AAAA", "rtmp://h/live",
     "FILE:///etc/hosts", "sftp://127.0.0.1/x.wav"],
)  # fmt: skip
def test_other_schemes_are_refused(arg: str) -> None:
    [item] = resolve([arg])
    assert item.error == "only http and https URLs are fetched"
    assert item.local is None and "/" not in item.stem


# --- feeds ---------------------------------------------------------------------------------


def test_an_rss_feed_gives_its_episodes_newest_first(server: LocalServer) -> None:
    items = resolve([server.url("/feed.rss")])
    titles = [i.source.title for i in items]
    # "Text post" has no enclosure: skipped. Titles lose their control characters.
    assert titles == ["../../etc/passwd", "Middle episode", "a/b c", "Gone"]
    assert [i.source.published for i in items] == [
        "2024-01-03T08:00:00+00:00",
        "2024-01-02T10:00:00+00:00",
        "2024-01-01T10:00:00+00:00",
        "2023-12-31T10:00:00+00:00",
    ]
    assert items[0].source.uri == server.url("/media/video.mp4")
    assert all(
        i.source.kind == "feed-item" and i.local is None and i.directory is None for i in items
    )
    assert all(i.error is None for i in items)  # "Gone" fails only when fetched
    assert items[1].source.link == "http://127.0.0.1/episodes/2"
    assert items[1].source.to_dict()["link"] == "http://127.0.0.1/episodes/2"


def test_feed_stems_are_dated_slugged_hashed_and_stable(server: LocalServer) -> None:
    first = [i.stem for i in resolve([server.url("/feed.rss")])]
    assert first == [i.stem for i in resolve([server.url("/feed.rss")])]
    assert first[1] == episode_stem("Middle episode", _day(2024, 1, 2), "ep-2")
    assert first[1].startswith("2024-01-02-middle-episode-") and len(first[1].split("-")[-1]) == 8
    assert first[0].startswith("2024-01-03-etc-passwd-")
    assert first[2].startswith("2024-01-01-a-b-c-")
    assert len(set(first)) == len(first)


def test_hostile_titles_stay_one_name_inside_the_output_dir(
    server: LocalServer, tmp_path: Path
) -> None:
    for item in resolve([server.url("/feed.rss")]):
        assert "/" not in item.stem and "\\" not in item.stem and not item.stem.startswith(".")
        assert all(c.isprintable() for c in item.stem)
        dest = output_path(tmp_path, item.stem, "json")
        assert dest.parent == tmp_path and dest.resolve().parent == tmp_path.resolve()


def test_limit_keeps_the_newest_episodes(server: LocalServer) -> None:
    items = resolve([server.url("/feed.rss")], limit=2)
    assert [i.source.title for i in items] == ["../../etc/passwd", "Middle episode"]
    assert resolve([server.url("/feed.rss")], limit=0) == []


def test_an_atom_feed_is_known_by_its_bytes_whatever_its_content_type(server: LocalServer) -> None:
    items = resolve([server.url("/feed.atom")])
    assert [i.source.title for i in items] == ["Caf\u00e9 \U0001f600 talk", "Newer", "Old"]
    assert items[0].stem.startswith("2023-07-01-cafe-talk-")
    assert items[1].source.uri == server.url("/media/video.mp4")


def test_resolving_a_feed_downloads_no_episode(server: LocalServer) -> None:
    before = len(server.requests)
    resolve([server.url("/feed.rss")])
    assert [p for _, p in server.requests[before:]] == ["/feed.rss"]


def test_an_undated_feed_keeps_its_order_and_names_lose_the_date(server: LocalServer) -> None:
    items = [
        {"title": "First", "guid": "u1", "url": server.url("/media/speech.mp3?u1")},
        {"title": "Second", "url": server.url("/media/speech.mp3?u2")},
    ]
    url = server.add("/undated.rss", Route(rss(items), "application/rss+xml"))
    first, second = resolve([url])
    assert (first.source.title, first.source.published) == ("First", None)
    assert first.stem == episode_stem("First", None, "u1") and first.stem.startswith("first-")
    # No guid: the enclosure URL names the episode instead.
    assert second.stem == episode_stem("Second", None, server.url("/media/speech.mp3?u2"))


def test_a_feed_without_media_is_an_error(server: LocalServer) -> None:
    only_text = [{"title": "News", "guid": "n1", "pubDate": "Mon, 01 Jan 2024 10:00:00 GMT"}]
    url = server.add("/blog.rss", Route(rss(only_text), "application/rss+xml"))
    [item] = resolve([url])
    assert item.error is not None and "no episode" in item.error


def test_slug_and_stem_without_a_date() -> None:
    assert slug("  Hello, World! Épisode #3 ") == "hello-world-episode-3"
    assert slug("x" * 100) == "x" * 60
    assert slug("\U0001f600\U0001f600") == ""
    assert episode_stem("\U0001f600", None, "id").startswith("episode-")


# --- URLs -------------------------------------------------------------------------------------


def test_a_direct_media_url_is_named_by_its_file(server: LocalServer) -> None:
    [item] = resolve([server.url("/media/speech.mp3")])
    assert (item.source.kind, item.source.uri) == ("url", server.url("/media/speech.mp3"))
    assert (item.stem, item.local, item.directory, item.error) == ("speech", None, None, None)


def test_an_untyped_media_url_is_known_by_its_extension(server: LocalServer) -> None:
    before = len(server.requests)
    [item] = resolve([server.url("/media/untyped.mp3")])
    assert item.stem == "untyped" and item.error is None
    assert len(server.requests) == before + 1  # one sniff, no yt-dlp call


def test_a_page_is_named_by_the_title_yt_dlp_gives_it(server: LocalServer) -> None:
    [item] = resolve([server.url("/media/video.html")])
    assert item.source.kind == "url" and item.error is None and item.local is None
    assert item.source.title is not None and item.source.title.startswith("A video page")
    assert item.stem.startswith("A video page")


def test_a_page_yt_dlp_cannot_handle_is_an_error_now(server: LocalServer) -> None:
    [item] = resolve([server.url("/plain.html")])
    assert item.error is not None and item.error.startswith("Unsupported URL")


def test_a_404_is_an_input_with_its_cause(server: LocalServer) -> None:
    [item] = resolve([server.url("/missing/thing.mp3")])
    assert item.error == "HTTP 404 Not Found"
    assert item.source.uri == server.url("/missing/thing.mp3") and "/" not in item.stem


def test_a_slow_server_times_out(server: LocalServer) -> None:
    started = time.monotonic()
    [item] = resolve([server.url("/slow.mp3")], timeout=0.5)
    assert item.error == "timed out after 0.5s"
    assert time.monotonic() - started < 3


def test_a_refused_connection_is_an_input_with_its_cause() -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [item] = resolve([f"http://127.0.0.1:{port}/a.mp3"], timeout=2)
    assert item.error is not None and item.error.startswith("cannot connect")


def test_one_bad_argument_does_not_stop_the_others(server: LocalServer, tree: Path) -> None:
    items = resolve([server.url("/nope"), str(tree / "A.WAV"), "ftp://127.0.0.1/x"])
    assert [i.error is None for i in items] == [False, True, False]


def _day(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=timezone.utc)
