"""A local HTTP server on 127.0.0.1 for tests of URL and feed inputs: real sockets, no network.

Routes map a path to a canned response; tests add routes after start, since a feed's
enclosure URLs need the server's own port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import pytest

MEDIA_TYPES = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
}


@dataclass(frozen=True)
class Route:
    """A canned response; `delay` seconds pass before the status line is sent, `trickle`
    seconds between chunks of `chunk` bytes of the body, and `location` makes it a redirect."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    trickle: float = 0.0
    chunk: int = 64 * 1024
    length: int | None = None  # the Content-Length sent, when not the body's own; -1: none


def redirect(target: str, status: int = 302) -> Route:
    """A redirect to `target`, any scheme (ftp:, file:, data:...)."""
    return Route(b"", "text/plain", status, location=target)


class LocalServer:
    """A ThreadingHTTPServer on an ephemeral loopback port, serving `routes` from a thread."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path), in arrival order
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: Route) -> str:
        """Serve `route` at `path`; returns its full URL."""
        self.routes[path] = route
        return self.url(path)

    def add_file(self, path: str, file: Path, content_type: str | None = None) -> str:
        """Serve the bytes of `file` at `path`, typed by its extension unless told."""
        kind = content_type or MEDIA_TYPES.get(file.suffix, "application/octet-stream")
        return self.add(path, Route(file.read_bytes(), kind))

    def served(self, path: str) -> list[str]:
        """The methods of every request made for `path` so far."""
        return [method for method, p in self.requests if p == path]

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops (so slow routes never delay exit)."""
        self._stop.wait(seconds)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self._respond(with_body=True)

        def do_HEAD(self) -> None:
            self._respond(with_body=False)

        def _respond(self, *, with_body: bool) -> None:
            path = self.path.split("?", 1)[0]
            server.requests.append((self.command, path))
            route = server.routes.get(path) or Route(b"not found\n", "text/plain", 404)
            if route.delay:
                server.wait(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                length = len(route.body) if route.length is None else route.length
                if length >= 0:
                    self.send_header("Content-Length", str(length))
                if route.location is not None:
                    self.send_header("Location", route.location)
                self.end_headers()
                if with_body:
                    for chunk in _chunks(route.body, route.chunk):
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        if route.trickle:
                            server.wait(route.trickle)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test, or a sniff that read only the head)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; `server.requests` records what was asked

    return Handler


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def rss(items: list[dict[str, str]], *, title: str = "Test podcast") -> bytes:
    """An RSS 2.0 feed; each item may have title, guid, pubDate, url, type."""
    parts = [f"<item><title>{_xml(i['title'])}</title>" + _rss_item(i) + "</item>" for i in items]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{_xml(title)}</title><link>http://127.0.0.1/</link>"
        "<description>made by the tests</description>" + "".join(parts) + "</channel></rss>\n"
    ).encode()


def _rss_item(item: dict[str, str]) -> str:
    out = ""
    if "guid" in item:
        out += f'<guid isPermaLink="false">{_xml(item["guid"])}</guid>'
    if "pubDate" in item:
        out += f"<pubDate>{item['pubDate']}</pubDate>"
    if "link" in item:
        out += f"<link>{_xml(item['link'])}</link>"
    if "url" in item:
        kind = item.get("type", "audio/mpeg")
        out += f'<enclosure url="{_xml(item["url"])}" length="1" type="{kind}"/>'
    return out


def atom(items: list[dict[str, str]], *, title: str = "Test feed") -> bytes:
    """An Atom feed; each item may have title, id, updated, url, type."""
    parts = []
    for item in items:
        entry = f"<entry><title>{_xml(item['title'])}</title><id>{_xml(item['id'])}</id>"
        if "updated" in item:
            entry += f"<updated>{item['updated']}</updated>"
        if "url" in item:
            kind = item.get("type", "audio/mpeg")
            entry += f'<link rel="enclosure" type="{kind}" href="{_xml(item["url"])}"/>'
        parts.append(entry + "</entry>")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{_xml(title)}</title><id>urn:test:feed</id>"
        "<updated>2024-01-01T00:00:00Z</updated>" + "".join(parts) + "</feed>\n"
    ).encode()


def _xml(text: str) -> str:
    """Escape text for XML; control characters go in as character references (XML 1.1 style,
    which feedparser's loose parser accepts), the way a careless feed generator writes them."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace('"', "&quot;")
    return "".join(f"&#{ord(c)};" if ord(c) < 32 else c for c in out)


MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"
SLOW_SECONDS = 5.0  # the slow route stalls this long; tests give it a timeout well under

VIDEO_PAGE = (
    b"<!DOCTYPE html><html><head><title>A video page</title></head>"
    b'<body><h1>Talk</h1><video controls src="video.mp4"></video></body></html>'
)
AUDIO_PAGE = (
    b"<!DOCTYPE html><html><head><title>An audio page</title></head><body>"
    b'<audio controls><source src="speech.mp3" type="audio/mpeg"></audio></body></html>'
)
PLAIN_PAGE = b"<!DOCTYPE html><html><head><title>Nothing here</title></head><body>hi</body></html>"


def serve_standard(server: LocalServer) -> None:
    """The routes the input and fetch tests share: media, pages, two feeds, a 404, a stall."""
    server.add_file("/media/speech.mp3", MEDIA / "speech.mp3")
    server.add_file("/media/video.mp4", MEDIA / "video.mp4")
    server.add_file("/media/untyped.mp3", MEDIA / "speech.mp3", "application/octet-stream")
    server.add("/media/video.html", Route(VIDEO_PAGE, "text/html; charset=utf-8"))
    server.add("/media/audio.html", Route(AUDIO_PAGE, "text/html; charset=utf-8"))
    server.add("/plain.html", Route(PLAIN_PAGE, "text/html; charset=utf-8"))
    server.add("/slow.mp3", Route(b"late", "audio/mpeg", delay=SLOW_SECONDS))
    server.add("/feed.rss", Route(rss(rss_items(server)), "application/rss+xml"))
    # A feed served as text/plain: sniffed by its first bytes, not its Content-Type.
    server.add("/feed.atom", Route(atom(atom_items(server)), "text/plain"))


def rss_items(server: LocalServer) -> list[dict[str, str]]:
    """Out of date order, with hostile titles, a text-only post and an enclosure that is gone."""
    return [
        {"title": "Middle episode", "guid": "ep-2", "link": "http://127.0.0.1/episodes/2",
         "pubDate": "Tue, 02 Jan 2024 10:00:00 GMT",
         "url": server.url("/media/speech.mp3")},
        {"title": "../../etc/passwd", "guid": "ep-3", "pubDate": "Wed, 03 Jan 2024 08:00:00 GMT",
         "url": server.url("/media/video.mp4"), "type": "video/mp4"},
        {"title": "Text post", "guid": "news", "pubDate": "Sat, 06 Jan 2024 08:00:00 GMT"},
        {"title": "a/b\x07c", "guid": "ep-1", "pubDate": "Mon, 01 Jan 2024 10:00:00 GMT",
         "url": server.url("/media/speech.mp3?ep=1")},
        {"title": "Gone", "guid": "ep-0", "pubDate": "Sun, 31 Dec 2023 10:00:00 GMT",
         "url": server.url("/media/gone.mp3")},
    ]  # fmt: skip


def atom_items(server: LocalServer) -> list[dict[str, str]]:
    return [
        {"title": "Old", "id": "urn:ep:1", "updated": "2023-05-01T00:00:00Z",
         "url": server.url("/media/speech.mp3")},
        {"title": "Caf\u00e9 \U0001f600 talk", "id": "urn:ep:3", "updated": "2023-07-01T00:00:00Z",
         "url": server.url("/media/speech.mp3?3")},
        {"title": "Newer", "id": "urn:ep:2", "updated": "2023-06-01T00:00:00Z",
         "url": server.url("/media/video.mp4"), "type": "video/mp4"},
    ]  # fmt: skip


def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop proxy settings: urllib and yt-dlp honour them, and these requests stay on loopback."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
