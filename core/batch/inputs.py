"""Input resolution: command-line arguments to a list of Inputs, before any media is read.

Arguments are local files, directories (recursed), quoted globs, `-` (a list on standard
input), `pipe:` (media bytes on standard input), http(s) URLs of media or of pages yt-dlp
supports, and RSS/Atom podcast feeds. A problem with one argument becomes an Input with an
`error`, so one bad argument never stops the others.
"""

from __future__ import annotations

import calendar
import fnmatch
import glob
import hashlib
import io
import logging
import os
import re
import sys
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from ffscribe.core.batch.fetch import FetchOptions, Sniffed, is_fetched_scheme, page_title, sniff
from ffscribe.core.batch.outputs import STEM_BYTES, cut_bytes, safe_name
from ffscribe.core.data.errors import InputError
from ffscribe.core.data.transcript import Source
from ffscribe.core.media.extensions import MEDIA_EXTENSIONS

log = logging.getLogger("ffscribe.inputs")

PIPE = "pipe:"
REFUSED_SCHEME = "only http and https URLs are fetched"
NO_MATCH = "no file matches this pattern"
NO_EPISODES = "this feed has no episode with an audio or video enclosure"


_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|data:)", re.IGNORECASE)
_GLOB_CHARS = re.compile(r"[*?[]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True)
class Input:
    """One thing to transcribe, known before any media is read or downloaded."""

    source: Source
    stem: str  # output file stem, already safe (no '/', no control chars, no leading '.')
    local: str | None  # a local media path, or "pipe:"; None when it must be fetched first
    directory: Path | None  # default output directory: the local file's folder; None -> cwd
    error: str | None = None  # a problem found while resolving (no match, unreadable feed...)


@dataclass(frozen=True)
class _Filters:
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    limit: int | None
    fetch: FetchOptions


def resolve(
    args: Sequence[str],
    *,
    stdin: TextIO | None = None,
    null: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    limit: int | None = None,
    timeout: float = 30.0,
    fetch: FetchOptions | None = None,
) -> list[Input]:
    """Every input the arguments name, in order, each once (same URI and stem: the first wins).

    `-` reads inputs from `stdin` (default: the process's), one a line or NUL-separated when
    `null`. `include`/`exclude` filter the files found in directories (fnmatch patterns, tried
    on the path relative to the directory and on the base name); `limit` caps each feed's
    episodes, newest first; `timeout` bounds each network request's silences, in seconds,
    and `fetch` (which overrides it) also each body's size and whole time."""
    fetch = fetch or FetchOptions(timeout=timeout)
    filters = _Filters(tuple(include), tuple(exclude), limit, fetch)
    seen: set[tuple[str, str]] = set()
    out: list[Input] = []
    for arg in args:
        entries = _read_list(stdin or sys.stdin, null=null) if arg == "-" else [arg]
        for entry in entries:
            for item in _resolve_one(entry, filters, from_list=arg == "-"):
                key = (item.source.uri, item.stem)
                if item.error is None and key in seen:
                    continue
                seen.add(key)
                out.append(item)
    return out


def _read_list(stream: TextIO, *, null: bool) -> list[str]:
    text = stream.read()
    # Not splitlines(): it also splits on \f, \v and others that a file name may hold.
    parts = text.split("\0") if null else [p.removesuffix("\r") for p in text.split("\n")]
    return [p for p in parts if p.strip()]


def _resolve_one(arg: str, filters: _Filters, *, from_list: bool = False) -> list[Input]:
    """One argument's inputs; names read from a `-` list are taken literally, never globbed."""
    if arg == PIPE:
        return [Input(Source("pipe", PIPE), "stdin", PIPE, None)]
    if re.match(r"^https?://", arg, re.IGNORECASE):
        return _resolve_url(arg, filters)
    if _SCHEME.match(arg) and not os.path.lexists(arg):
        return [_failed(Source("url", arg), arg, REFUSED_SCHEME)]
    if os.path.isdir(arg):
        return _walked(arg, filters)
    if not os.path.lexists(arg) and _GLOB_CHARS.search(arg) and not from_list:
        return _resolve_glob(arg, filters)
    return [_local(arg)]


def _local(path: str) -> Input:
    source = Source("file", os.path.abspath(path))
    return Input(source, safe_name(Path(path).stem or Path(path).name), path, Path(path).parent)


def _failed(source: Source, name: str, error: str) -> Input:
    return Input(source, safe_name(name), None, None, error=error)


def _resolve_glob(pattern: str, filters: _Filters) -> list[Input]:
    """A quoted glob, expanded here: matched files as they are, matched directories recursed."""
    matches = _glob(pattern)
    if not matches:
        return [_failed(Source("file", os.path.abspath(pattern)), pattern, NO_MATCH)]
    out: list[Input] = []
    for match in matches:
        out += _walked(match, filters) if os.path.isdir(match) else [_local(match)]
    return out


def _glob(pattern: str) -> list[str]:
    """glob.glob, sorted; with `**`, matched over a loop-safe walk instead, since glob.glob
    follows symlinked folders without end (a loop hangs it)."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    parts = pattern.split("/")
    fixed = next(i for i, part in enumerate(parts) if _GLOB_CHARS.search(part))
    base = "/".join(parts[:fixed]) or ("/" if pattern.startswith("/") else ".")
    if not os.path.isdir(base):
        return []
    regex = re.compile(_glob_regex(parts[fixed:]))
    found = [path for rel, path, _ in _tree(base) if regex.fullmatch(rel)]
    return found if base != "." or pattern.startswith("./") else [p[2:] for p in found]


def _glob_regex(parts: Sequence[str]) -> str:
    """A regex for relative POSIX paths matching glob components; `**` spans folders."""
    out = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:.+/)?"
            continue
        tokens = re.findall(r"\*|\?|\[!?\]?[^\]]*\]|[^*?[]+|\[", part)
        out += "".join(_glob_token(t) for t in tokens) + ("" if last else "/")
    return out


def _glob_token(token: str) -> str:
    if token == "*":
        return "[^/]*"
    if token == "?":
        return "[^/]"
    if len(token) > 2 and token.startswith("["):
        body = token[1:-1]
        body = "^" + body[1:] if body.startswith("!") else body
        return "[" + body.replace("\\", "\\\\") + "]"
    return re.escape(token)


def _walked(directory: str, filters: _Filters) -> list[Input]:
    return [_local(p) for p in walk(directory, include=filters.include, exclude=filters.exclude)]


def walk(directory: str, *, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
    """Media files under `directory`, sorted, hidden names skipped, `include`/`exclude`
    fnmatch patterns tried on the path relative to `directory` and on the base name."""
    return [
        path
        for rel, path, is_dir in _tree(directory)
        if not is_dir and _is_media(rel) and _wanted(rel, include, exclude)
    ]


def _tree(directory: str) -> list[tuple[str, str, bool]]:
    """(relative POSIX path, path, is a folder) for everything under `directory`, sorted by
    path components, hidden names skipped. A symlinked folder is followed when it points
    outside the tree, once per real folder; one pointing into the tree or at a folder that
    holds it is not, so a symlink loop can never hang the walk or repeat a file."""
    found: list[tuple[tuple[str, ...], str, bool]] = []
    root = os.path.realpath(directory)
    seen = {_key(directory)}
    for top, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = [d for d in sorted(dirs) if not d.startswith(".") and _follow(top, d, root, seen)]
        rel_top = PurePosixPath(Path(os.path.relpath(top, directory)).as_posix())
        for name, is_dir in [*((d, True) for d in dirs), *((f, False) for f in files)]:
            if not name.startswith("."):
                found.append(((rel_top / name).parts, os.path.join(top, name), is_dir))
    return [("/".join(parts), path, is_dir) for parts, path, is_dir in sorted(found)]


def _follow(top: str, name: str, root: str, seen: set[tuple[int, int]]) -> bool:
    """Whether the walk goes into folder `name` of `top`."""
    path = os.path.join(top, name)
    try:
        key = _key(path)
    except OSError:
        return False
    real = os.path.realpath(path)
    inside = os.path.islink(path) and os.path.commonpath([real, root]) in (real, root)
    if inside or key in seen:  # `seen` also stops a bind-mount loop
        log.debug("not going into %s: it leads back into the tree", path)
        return False
    seen.add(key)
    return True


def _key(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _is_media(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def _wanted(rel: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """`rel` (a POSIX path) is kept when an include pattern matches it or its name, and no
    exclude pattern matches it, its name or a folder it is in ("drafts" drops drafts/*)."""
    parts = PurePosixPath(rel).parts
    if include and not any(fnmatch.fnmatch(c, p) for c in (rel, parts[-1]) for p in include):
        return False
    folders = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
    candidates = {rel, *parts, *folders}
    return not any(fnmatch.fnmatch(c, p) for c in candidates for p in exclude)


# --- URLs and feeds ---------------------------------------------------------------------


def _resolve_url(url: str, filters: _Filters) -> list[Input]:
    """A feed becomes its episodes; anything else one URL input, named from its title."""
    try:
        sniffed = sniff(url, options=filters.fetch)
        if sniffed.body is not None and (feed := _parse_feed(sniffed)) is not None:
            return _feed_inputs(feed, url, sniffed.url, filters.limit)
        if _is_direct_media(sniffed):
            return [Input(Source("url", url), _url_stem(url), None, None)]
        title = page_title(url, timeout=filters.fetch.timeout)
    except InputError as exc:
        return [_failed(Source("url", url), _url_stem(url, hashed=True), exc.message)]
    stem = safe_name(title) if title else _url_stem(url, hashed=True)
    return [Input(Source("url", url, title=_clean(title) or None), stem, None, None)]


def _is_direct_media(sniffed: Sniffed) -> bool:
    if sniffed.content_type.startswith(("audio/", "video/")):
        return True
    generic = sniffed.content_type in ("", "application/octet-stream", "binary/octet-stream")
    return generic and _is_media(urllib.parse.urlsplit(sniffed.url).path)


def _url_stem(url: str, *, hashed: bool = False) -> str:
    """The last path component of `url` less its extension, made safe; with `hashed`, plus
    a short hash of the whole URL, since a page's last component says little."""
    parts = urllib.parse.urlsplit(url)
    last = urllib.parse.unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    base = os.path.splitext(last)[0] if _is_media(last) else last
    base = base or parts.hostname or "download"
    if not hashed:
        return safe_name(base, max_len=100)
    return f"{safe_name(base, max_len=100, max_bytes=STEM_BYTES - 9)}-{_short_hash(url)}"


def _parse_feed(sniffed: Sniffed) -> Any | None:
    """feedparser's view of the bytes already fetched; None when they are not a feed."""
    import feedparser  # imported only when a URL turns out to be XML

    headers = {"content-location": sniffed.url, "content-type": sniffed.content_type}
    # A stream, never bytes or str: given those, feedparser may fetch a URL or open a file.
    parsed = feedparser.parse(io.BytesIO(sniffed.body or b""), response_headers=headers)
    return parsed if parsed.get("version") else None


def _feed_inputs(feed: Any, url: str, final_url: str, limit: int | None) -> list[Input]:
    """One Input per episode with a media enclosure, newest first (undated ones last, in
    feed order), at most `limit`. Items without a media enclosure (text posts) are skipped;
    a feed with none at all is an error (a blog's feed, say, given by mistake)."""
    episodes = [e for e in (_episode(entry, final_url) for entry in feed.entries) if e]
    if not episodes:
        return [_failed(Source("url", url), _url_stem(url, hashed=True), NO_EPISODES)]
    episodes.sort(key=lambda e: e[0] or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
    if limit is not None:
        episodes = episodes[: max(limit, 0)]
    return _distinct([item for _, item in episodes])


def _distinct(items: list[Input]) -> list[Input]:
    """Items a feed repeats (same id, title and date, so the same name) kept apart: one with
    the same enclosure is dropped, one with another gets a name hashed from its enclosure
    too, so both are transcribed on the first run and skipped on the next."""
    names: dict[str, str] = {}
    out: list[Input] = []
    for item in items:
        if names.get(item.stem, item.source.uri) != item.source.uri:
            stem = f"{item.stem}-{_short_hash(item.source.uri)}"
            item = replace(item, stem=safe_name(stem, max_len=len(stem)))
        if item.stem not in names:
            names[item.stem] = item.source.uri
            out.append(item)
    return out


def _episode(entry: Mapping[str, Any], feed_url: str) -> tuple[datetime | None, Input] | None:
    href = _enclosure(entry, feed_url)
    if href is None:
        log.debug("feed item without a media enclosure skipped: %s", entry.get("title"))
        return None
    title = _clean(entry.get("title")) or None
    when = _published(entry)
    key = str(entry.get("id") or href)
    stem = episode_stem(title or "", when, key)
    published = when.isoformat() if when else None
    link = entry.get("link")
    source = Source(
        "feed-item", href, title=title, published=published, link=str(link) if link else None
    )
    if not is_fetched_scheme(href):
        return when, Input(source, stem, None, None, error=REFUSED_SCHEME)
    return when, Input(source, stem, None, None)


def _enclosure(entry: Mapping[str, Any], feed_url: str) -> str | None:
    """The first audio or video enclosure's URL (an untyped one counts if its name is media)."""
    for enc in entry.get("enclosures") or ():
        href = str(enc.get("href") or "").strip()
        kind = str(enc.get("type") or "").lower()
        if not href:
            continue
        path = urllib.parse.urlsplit(href).path
        if kind.startswith(("audio/", "video/")) or (not kind and _is_media(path)):
            return urllib.parse.urljoin(feed_url, href)
    return None


def _published(entry: Mapping[str, Any]) -> datetime | None:
    """The episode's date in UTC: published, else updated; None when the feed gives neither."""
    for field in ("published_parsed", "updated_parsed"):
        parsed = entry.get(field)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=timezone.utc)
    return None


def episode_stem(title: str, published: datetime | None, key: str) -> str:
    """`{YYYY-MM-DD}-{title slug}-{8 hex of sha1(key)}`: stable across runs, one safe name.

    The date part is left out when the feed has no date; the hash keeps two episodes with
    the same title and date apart; a long title is cut in bytes, never the hash."""
    date = [published.strftime("%Y-%m-%d")] if published else []
    room = STEM_BYTES - sum(len(p) + 1 for p in date) - 9
    words = cut_bytes(slug(title), room).rstrip("-")
    return safe_name("-".join([*date, words or "episode", _short_hash(key)]))


def slug(text: str, *, max_len: int = 60) -> str:
    """Lower-case words joined by '-': accents dropped, letters of any script kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = re.sub(r"[\W_]+", "-", letters).strip("-")
    return words[:max_len].rstrip("-")


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _clean(text: object) -> str:
    """A title for display and JSON: control characters out, whitespace collapsed."""
    if not text:
        return ""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", str(text))).strip()
