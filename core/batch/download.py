"""HTTP for remote inputs: only http and https (redirects included), every body read under a
byte cap and an overall deadline, downloads into scratch folders a kill -9 cannot strand.

A scratch folder holds a lock on its `.owner` file for as long as its process lives, so a
later run knows a folder whose lock it can take was left by a process that is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mimetypes
import os
import shutil
import stat
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from typing import IO, Any

from ffscribe.core import __version__
from ffscribe.core.data.errors import Cancelled, InputError
from ffscribe.core.engine import cleanup

log = logging.getLogger("ffscribe.download")

ProgressCallback = Callable[[float, float | None], None]  # (bytes done, bytes total or None)

USER_AGENT = f"ffscribe/{__version__} (+https://pypi.org/project/ffscribe/)"
FETCHED_SCHEMES = ("http", "https")
REFUSED = "only http and https URLs are fetched"
DEFAULT_MAX_BYTES = 4 << 30  # a long video at a high bitrate; far above any podcast episode
DEFAULT_DEADLINE = 3600.0  # seconds for one whole download
SCRATCH_PREFIX = "ffscribe-"
OLD_SCRATCH_AGE = 3600.0  # a folder without an owner file (an older version's) this idle is stale
_CHUNK = 256 * 1024
_MEDIA_TYPES = ("audio/", "video/")
_GENERIC_TYPES = ("", "application/octet-stream", "binary/octet-stream")


@dataclass(frozen=True)
class FetchOptions:
    """Limits on the network: `timeout` for silence, `deadline` for a whole body."""

    max_bytes: int = DEFAULT_MAX_BYTES
    deadline: float = DEFAULT_DEADLINE
    timeout: float = 30.0


def is_fetched_scheme(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme.lower() in FETCHED_SCHEMES


class TooLarge(InputError):
    """A body over its byte cap."""


class RefusedRedirect(urllib.error.URLError):
    """A redirect to a scheme other than http(s): ftp:, file:, data:, anything."""

    def __init__(self, target: str) -> None:
        scheme = urllib.parse.urlsplit(target).scheme or "?"
        super().__init__(f"redirected to {scheme}: (refused: {REFUSED})")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http and https only: urllib itself follows one to ftp://, and
    refuses file: with a bare "HTTP Error 302: Found" that names no cause."""

    def http_error_302(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any
    ) -> Any:
        target = headers.get("location") or headers.get("uri") or ""
        if target and not is_fetched_scheme(urllib.parse.urljoin(req.full_url, target)):
            raise RefusedRedirect(target)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


OPENER = urllib.request.build_opener(_HttpOnlyRedirects())


def cause(exc: BaseException, timeout: float) -> str:
    """One line naming why a request failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g}s"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot connect: {reason.strerror}"
    return str(reason) or type(reason).__name__


def open_url(url: str, options: FetchOptions, *, headers: dict[str, str] | None = None) -> Any:
    """GET `url` (http and https only, redirects too) and return the response."""
    wanted = {"User-Agent": USER_AGENT, "Accept": "*/*", **(headers or {})}
    request = urllib.request.Request(url, headers=wanted)
    try:
        return OPENER.open(request, timeout=min(options.timeout, options.deadline))
    except (urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
        raise InputError(cause(exc, options.timeout), path=url, stage="fetch") from exc


class Clock:
    """The deadline of one body, the stop flag, and the byte cap, checked between reads."""

    def __init__(
        self, url: str, options: FetchOptions, stop: threading.Event | None, limit: int
    ) -> None:
        self.url, self.options, self.stop, self.limit = url, options, stop, limit
        self.ends = time.monotonic() + options.deadline

    def chunks(self, response: Any, size: int = _CHUNK) -> Iterator[bytes]:
        """The body, chunk by chunk; each read waits at most until the deadline."""
        got = 0
        sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
        while True:
            if self.stop is not None and self.stop.is_set():
                raise Cancelled
            left = self.ends - time.monotonic()
            if left <= 0:
                raise self._error(past_deadline(self.options))
            if sock is not None:  # a trickle must not outlast the deadline, one read at a time
                sock.settimeout(min(self.options.timeout, left))
            try:
                chunk = response.read1(size)
            except (TimeoutError, OSError, HTTPException) as exc:
                if time.monotonic() >= self.ends:
                    raise self._error(past_deadline(self.options)) from exc
                raise self._error(cause(exc, self.options.timeout)) from exc
            if not chunk:
                return
            got += len(chunk)
            if got > self.limit:
                message = over_cap(self.options) if self.limit == self.options.max_bytes else ""
                raise TooLarge(message or f"larger than {_size(self.limit)}", path=self.url)
            yield chunk

    def _error(self, message: str) -> InputError:
        return InputError(message, path=self.url, stage="fetch")


def over_cap(options: FetchOptions) -> str:
    return f"larger than {_size(options.max_bytes)} (--max-download)"


def past_deadline(options: FetchOptions) -> str:
    return f"not done after {options.deadline:g}s (--download-deadline)"


def _size(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):g} {unit}"
    return f"{count} bytes"


def is_media_response(content_type: str, url: str, media_path: Callable[[str], bool]) -> bool:
    """Whether a response is media itself rather than a page about it."""
    if content_type.startswith(_MEDIA_TYPES):
        return True
    return content_type in _GENERIC_TYPES and media_path(urllib.parse.urlsplit(url).path)


def download_to(
    url: str,
    directory: str,
    options: FetchOptions,
    *,
    media_path: Callable[[str], bool],
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
    headers: dict[str, str] | None = None,
) -> str | None:
    """Download `url` into `directory` when it answers with media, and return the file;
    None when it answers with something else (a page, for yt-dlp to read)."""
    with open_url(url, options, headers=headers) as response:
        final = response.geturl()
        ctype = response.headers.get_content_type() if "content-type" in response.headers else ""
        if not is_media_response(ctype, final, media_path):
            return None
        total = response.headers.get("content-length")
        size = int(total) if total and total.isdigit() else None
        if size is not None and size > options.max_bytes:
            raise TooLarge(f"{_size(size)}: {over_cap(options)}", path=url, stage="fetch")
        path = os.path.join(directory, "media" + _extension(final, ctype, media_path))
        done = 0
        with open(path, "wb") as out:
            for chunk in Clock(url, options, stop, options.max_bytes).chunks(response):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(float(done), float(size) if size else None)
    return path


def _extension(url: str, content_type: str, media_path: Callable[[str], bool]) -> str:
    """The media's own extension, a hint ffmpeg may need for raw streams."""
    ext = os.path.splitext(urllib.parse.urlsplit(url).path)[1].lower()
    if media_path(f"x{ext}"):
        return ext
    return mimetypes.guess_extension(content_type) or ".media"


# --- scratch folders ----------------------------------------------------------------------


@contextlib.contextmanager
def scratch() -> Iterator[str]:
    """A new temporary folder, removed on the way out whatever happens (and by
    cleanup.undo_all if its thread never gets there)."""
    folder = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    # Locked before it takes its name, so no cleaner ever sees an owner file unlocked.
    fd = os.open(os.path.join(folder, ".owner-new"), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(os.path.join(folder, ".owner-new"), os.path.join(folder, ".owner"))
    try:
        with cleanup.pending(lambda: shutil.rmtree(folder, ignore_errors=True)):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def remove_stale_scratch(root: str | None = None) -> int:
    """Remove the scratch folders in `root` (the temp folder) that no live process owns:
    a kill -9 leaves them. Returns how many went."""
    root = root or tempfile.gettempdir()
    removed = 0
    try:
        names = [n for n in os.listdir(root) if n.startswith(SCRATCH_PREFIX)]
    except OSError:
        return 0
    for name in names:
        folder = os.path.join(root, name)
        if _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed += not os.path.lexists(folder)
    return removed


def _is_stale(folder: str) -> bool:
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False  # never a link, never another user's
    try:
        fd = os.open(os.path.join(folder, ".owner"), os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:  # an older version's folder, or one being made this instant
        return _idle_for(folder) > OLD_SCRATCH_AGE
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its process is alive
    finally:
        os.close(fd)
    return True


def _idle_for(folder: str) -> float:
    """Seconds since anything in `folder` last changed."""
    newest = 0.0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        newest = max(newest, os.lstat(folder).st_mtime)
    return time.time() - newest
