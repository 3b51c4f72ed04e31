"""Remote fetching: sniff a URL with urllib, ask yt-dlp for a page's title, download media.

Only http and https are ever fetched. Downloads go through yt-dlp's embedding API into a
temporary directory that `fetched` removes on the way out, whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import IO, TYPE_CHECKING, Any

from ffscribe.core import __version__
from ffscribe.core.errors import InputError

if TYPE_CHECKING:
    from ffscribe.core.inputs import Input

log = logging.getLogger("ffscribe.fetch")

ProgressCallback = Callable[[float, float | None], None]  # (bytes done, bytes total or None)

USER_AGENT = f"ffscribe/{__version__} (+https://pypi.org/project/ffscribe/)"
SNIFF_BYTES = 64 * 1024  # enough to tell a feed from a page; media bodies are never read
MAX_FEED_BYTES = 64 * 1024 * 1024  # a feed larger than this is not a podcast feed
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FETCHED_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Sniffed:
    """What the first response for a URL says about it, without reading a media body."""

    url: str  # after redirects
    content_type: str  # lower-case media type, parameters dropped ("" when absent)
    head: bytes  # the first bytes of the body (none for audio/* and video/*)
    body: bytes | None = None  # the whole body, read only for what looks like XML


def is_fetched_scheme(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() in _FETCHED_SCHEMES


def sniff(url: str, *, timeout: float = 30.0) -> Sniffed:
    """GET `url`, read its Content-Type and at most SNIFF_BYTES of the body, then close.

    A body that looks like XML (a feed) is read whole, up to MAX_FEED_BYTES. Raises
    InputError with the cause ("HTTP 404 Not Found", "timed out after 30s")."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            ctype = (
                response.headers.get_content_type() if "content-type" in response.headers else ""
            )
            final = response.geturl()
            if ctype.startswith(("audio/", "video/")):
                return Sniffed(final, ctype, b"")
            head = response.read(SNIFF_BYTES)
            body: bytes | None = None
            if _looks_like_xml(ctype, head):
                body = head + response.read(MAX_FEED_BYTES + 1 - len(head))
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        raise InputError(_cause(exc, timeout), path=url, stage="fetch") from exc
    if body is not None and len(body) > MAX_FEED_BYTES:
        raise InputError(f"larger than {MAX_FEED_BYTES >> 20} MiB: not a feed", path=url)
    return Sniffed(final, ctype, head, body)


def _looks_like_xml(ctype: str, head: bytes) -> bool:
    if "rss" in ctype or "atom" in ctype or ctype.endswith(("/xml", "+xml")):
        return True
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:64].lower()
    return start.startswith((b"<?xml", b"<rss", b"<feed"))


def _cause(exc: BaseException, timeout: float) -> str:
    """One line naming why a fetch failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot connect: {reason.strerror}"
    return str(reason) or type(reason).__name__


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https only (urllib would also follow one to ftp://)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not is_fetched_scheme(urllib.parse.urljoin(req.full_url, newurl)):
            raise urllib.error.HTTPError(
                req.full_url, code, f"redirect to a refused scheme: {newurl}", headers, fp
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


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
    item: Input, *, progress: ProgressCallback | None = None, timeout: float = 30.0
) -> Iterator[str]:
    """Yield a local media path for `item`: its own path when local, else a download into a
    temporary directory that is removed on exit, whatever happens (error, Ctrl-C)."""
    if item.error is not None:
        raise InputError(item.error, path=item.source.uri, stage="fetch")
    if item.local is not None:
        yield item.local
        return
    if not is_fetched_scheme(item.source.uri):
        raise InputError("only http and https URLs are fetched", path=item.source.uri)
    tmp = tempfile.mkdtemp(prefix="ffscribe-")
    try:
        yield _download(item.source.uri, tmp, progress=progress, timeout=timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download(
    url: str, directory: str, *, progress: ProgressCallback | None, timeout: float
) -> str:
    """Download `url` with yt-dlp into `directory`; return the file's path."""
    import yt_dlp  # heavy: imported only when something is downloaded

    params = ytdlp_params(timeout=timeout, progress=progress)
    params["outtmpl"] = {"default": os.path.join(directory, "media.%(ext)s")}
    params["paths"] = {"home": directory, "temp": directory}
    log.debug("downloading %s into %s", url, directory)
    try:
        with yt_dlp.YoutubeDL(params) as ydl:
            info = ydl.extract_info(url, download=True)
            path = _downloaded_path(ydl, info)
    except yt_dlp.utils.YoutubeDLError as exc:  # DownloadError, ExtractorError and kin
        raise _input_error(exc, url) from exc
    if path is None or not os.path.isfile(path):
        raise InputError("the download produced no media file", path=url, stage="fetch")
    return path


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
