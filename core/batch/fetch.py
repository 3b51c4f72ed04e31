"""Remote fetching: sniff a URL with urllib, ask yt-dlp for a page's title, download media.

Only http and https are ever fetched. Downloads go through yt-dlp's embedding API into a
temporary directory that `fetched` removes on the way out, whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ffscribe.core.batch.download import (
    REFUSED,
    USER_AGENT,
    Clock,
    FetchOptions,
    ProgressCallback,
    TooLarge,
    download_to,
    is_fetched_scheme,
    open_url,
    over_cap,
    past_deadline,
    scratch,
)
from ffscribe.core.data.errors import Cancelled, InputError

if TYPE_CHECKING:
    from ffscribe.core.batch.inputs import Input

log = logging.getLogger("ffscribe.fetch")

SNIFF_BYTES = 64 * 1024  # enough to tell a feed from a page; media bodies are never read
MAX_FEED_BYTES = 64 * 1024 * 1024  # a feed larger than this is not a podcast feed
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
__all__ = ["USER_AGENT", "FetchOptions", "Sniffed", "fetched", "is_fetched_scheme", "sniff"]


@dataclass(frozen=True)
class Sniffed:
    """What the first response for a URL says about it, without reading a media body."""

    url: str  # after redirects
    content_type: str  # lower-case media type, parameters dropped ("" when absent)
    head: bytes  # the first bytes of the body (none for audio/* and video/*)
    body: bytes | None = None  # the whole body, read only for what looks like XML


def sniff(url: str, *, timeout: float = 30.0, options: FetchOptions | None = None) -> Sniffed:
    """GET `url`, read its Content-Type and at most SNIFF_BYTES of the body, then close.

    A body that looks like XML (a feed) is read whole, up to MAX_FEED_BYTES, within the
    deadline of `options`. Raises InputError with the cause ("HTTP 404 Not Found", "timed
    out after 30s", a redirect to a refused scheme)."""
    options = options or FetchOptions(timeout=timeout)
    with open_url(url, options) as response:
        ctype = response.headers.get_content_type() if "content-type" in response.headers else ""
        final = response.geturl()
        if ctype.startswith(("audio/", "video/")):
            return Sniffed(final, ctype, b"")
        chunks = Clock(url, options, None, MAX_FEED_BYTES).chunks(response, SNIFF_BYTES)
        head = next(chunks, b"")
        while len(head) < SNIFF_BYTES and (more := next(chunks, b"")):
            head += more
        if not _looks_like_xml(ctype, head):
            return Sniffed(final, ctype, head[:SNIFF_BYTES])
        try:
            body = head + b"".join(chunks)
        except TooLarge as exc:
            raise InputError(
                f"larger than {MAX_FEED_BYTES >> 20} MiB: not a feed", path=url
            ) from exc
    return Sniffed(final, ctype, head, body)


def _looks_like_xml(ctype: str, head: bytes) -> bool:
    if "rss" in ctype or "atom" in ctype or ctype.endswith(("/xml", "+xml")):
        return True
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    return start.startswith((b"<?xml", b"<rss", b"<feed"))


class _LogAdapter:
    """yt-dlp's `logger` param, onto logging. Its errors go to debug: we raise them as
    InputError, and the batch reports them once."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg.removeprefix("[debug] "))

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        # Advisory ("Falling back on generic information extractor"), not the user's problem.
        log.info("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


def ytdlp_params(
    *, timeout: float = 30.0, progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """yt-dlp options: quiet, logged through us, audio preferred, no ffmpeg post-processing."""
    params: dict[str, Any] = {
        "format": "bestaudio/best",
        "noplaylist": True,
        "playlist_items": "1",  # a page with several media gives one input: the first
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _LogAdapter(),
        "socket_timeout": timeout,
        "retries": 2,
        "fragment_retries": 2,
        "extractor_retries": 1,
        "cachedir": False,
        "fixup": "never",  # fixups run ffmpeg; our decoder reads the file as downloaded
        "updatetime": False,
        "color": {"stdout": "no_color", "stderr": "no_color"},
    }
    if progress is not None:
        params["progress_hooks"] = [_bridge(progress)]
    return params


def _bridge(progress: ProgressCallback) -> Callable[[Mapping[str, Any]], None]:
    def hook(status: Mapping[str, Any]) -> None:
        if status.get("status") not in ("downloading", "finished"):
            return
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        progress(float(status.get("downloaded_bytes") or 0), float(total) if total else None)

    return hook


def ytdlp_message(exc: BaseException) -> str:
    """yt-dlp's error as one line: no "ERROR: " or "[extractor] id: " prefix, no colours."""
    text = _ANSI.sub("", str(getattr(exc, "msg", None) or exc)).strip().splitlines()
    line = (text[0] if text else "") or type(exc).__name__
    line = re.sub(r"^(?:ERROR: )?(?:\[[\w:.-]+\] (?:[^\s:]+: )?)?", "", line)
    if match := re.search(r"HTTP Error \d+: [^(]*", line):
        return match.group(0).strip()
    return re.sub(r" \(caused by .*\)$", "", line).strip() or type(exc).__name__


def _input_error(exc: BaseException, url: str) -> InputError:
    """Our error for yt-dlp's; the URL is its `path`, so the message need not repeat it."""
    return InputError(ytdlp_message(exc).removesuffix(f": {url}"), path=url, stage="fetch")


def page_title(url: str, *, timeout: float = 30.0) -> str | None:
    """The title yt-dlp gives a page, from metadata only (nothing downloaded).

    Raises InputError when yt-dlp cannot handle the URL ("Unsupported URL")."""
    import yt_dlp  # heavy: imported only when a page is resolved

    try:
        with yt_dlp.YoutubeDL(ytdlp_params(timeout=timeout)) as ydl:
            info = ydl.extract_info(url, download=False, process=False)
    except yt_dlp.utils.YoutubeDLError as exc:  # DownloadError, ExtractorError and kin
        raise _input_error(exc, url) from exc
    title = info.get("title") if isinstance(info, dict) else None
    return str(title) if title else None


@contextlib.contextmanager
def fetched(
    item: Input,
    *,
    progress: ProgressCallback | None = None,
    options: FetchOptions | None = None,
    stop: threading.Event | None = None,
) -> Iterator[str]:
    """Yield a local media path for `item`: its own path when local, else a download into a
    scratch folder that is removed on exit, whatever happens (error, Ctrl-C, `stop`)."""
    if item.error is not None:
        raise InputError(item.error, path=item.source.uri, stage="fetch")
    if item.local is not None:
        yield item.local
        return
    if not is_fetched_scheme(item.source.uri):
        raise InputError(REFUSED, path=item.source.uri)
    with scratch() as folder:
        yield _download(_Job(item.source.uri, folder, options or FetchOptions(), progress, stop))


def _is_media_path(path: str) -> bool:
    from ffscribe.core.media.extensions import MEDIA_EXTENSIONS

    return os.path.splitext(path)[1].lower() in MEDIA_EXTENSIONS


@dataclass(frozen=True)
class _Job:
    """One download: from where, into which folder, under which limits."""

    url: str
    directory: str
    options: FetchOptions
    progress: ProgressCallback | None
    stop: threading.Event | None


def _download(job: _Job) -> str:
    """Media that answers as media is downloaded here (redirects to http(s) only, under the
    byte cap, within the deadline); a page goes to yt-dlp, and the media URL it finds is
    downloaded the same way, or by yt-dlp itself for a stream in fragments."""
    path = download_to(
        job.url,
        job.directory,
        job.options,
        media_path=_is_media_path,
        progress=job.progress,
        stop=job.stop,
    )
    return path if path is not None else _from_page(job)


def _from_page(job: _Job) -> str:
    import yt_dlp  # heavy: imported only when a page is downloaded

    url, directory, options, progress, stop = (
        job.url,
        job.directory,
        job.options,
        job.progress,
        job.stop,
    )

    params = ytdlp_params(timeout=options.timeout, progress=_guarded(url, options, progress, stop))
    params["max_filesize"] = options.max_bytes
    params["outtmpl"] = {"default": os.path.join(directory, "media.%(ext)s")}
    params["paths"] = {"home": directory, "temp": directory}
    log.debug("downloading %s into %s", url, directory)
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = _first(ydl.extract_info(url, download=False))
            media = str(info.get("url") or "")
            if media and not is_fetched_scheme(media):
                scheme = urllib.parse.urlsplit(media).scheme
                raise InputError(f"its media is at a {scheme}: URL ({REFUSED})", path=url)
            if media and info.get("protocol") in ("http", "https"):
                found = download_to(
                    media, directory, options, media_path=lambda _: True, progress=progress,
                    stop=stop, headers=dict(info.get("http_headers") or {}),
                )  # fmt: skip
                if found is None:
                    raise InputError(f"no media at {media}", path=url, stage="fetch")
                return found
            # A stream in fragments (HLS, DASH): yt-dlp downloads it, as it always did.
            path = _downloaded_path(ydl, ydl.extract_info(url, download=True))
    except yt_dlp.utils.YoutubeDLError as exc:  # DownloadError, ExtractorError and kin
        raise _input_error(exc, url) from exc
    if path is None or not os.path.isfile(path):
        raise InputError("the download produced no media file", path=url, stage="fetch")
    return path


def _first(info: Any) -> dict[str, Any]:
    """The first (and only) video of what yt-dlp extracted."""
    entries = info.get("entries") if isinstance(info, dict) else None
    if entries is not None:
        info = next(iter(entries), None)
    if not isinstance(info, dict):
        raise InputError("yt-dlp found no media on this page", stage="fetch")
    return info


def _guarded(
    url: str, options: FetchOptions, progress: ProgressCallback | None, stop: threading.Event | None
) -> ProgressCallback:
    """yt-dlp's progress hook, also where its download meets our stop, cap and deadline."""
    ends = time.monotonic() + options.deadline

    def hook(done: float, total: float | None) -> None:
        if stop is not None and stop.is_set():
            raise Cancelled
        if done > options.max_bytes:
            raise TooLarge(over_cap(options), path=url, stage="fetch")
        if time.monotonic() > ends:
            raise InputError(past_deadline(options), path=url, stage="fetch")
        if progress is not None:
            progress(done, total)

    return hook


def _downloaded_path(ydl: Any, info: Mapping[str, Any] | None) -> str | None:
    """Where yt-dlp put the file: the first requested download, or the first entry's."""
    if not info:
        return None
    entries = info.get("entries")
    if entries is not None:
        first = next(iter(entries), None)
        return _downloaded_path(ydl, first) if first else None
    downloads = info.get("requested_downloads") or ()
    if downloads and downloads[0].get("filepath"):
        return str(downloads[0]["filepath"])
    return str(ydl.prepare_filename(info)) or None
