"""The ASGI layer in front of every route: the API key, the upload cap, and one structured
access-log line per request (per WebSocket connection, at its close).

An early answer (401, 413) is sent before the body is read, and the rest of the body is then
drained, bounded and discarded, before the response is closed: clients that send the whole
body before reading (httpx, hence the `openai` package) would otherwise see a reset instead
of the answer.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from ffscribe.cli.serve.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access = logging.getLogger("ffscribe.serve.access")
OPEN_PATHS = ("/", "/health", "/favicon.ico")  # the page and probes need no key
PADDLEX_PATH = "/multilingual-speech-recognition"
DRAIN_FACTOR = 8  # an early answer drains at most this many caps of body, then hangs up
DRAIN_SECONDS = 30.0
SOCKET = "ffscribe.socket"  # the scope key of a WebSocket's Socket, for its route to fill


class Oversize(Exception):
    """The body passed the upload cap while a route was reading it."""


def error_body(path: str, error: ApiError, log_id: str = "") -> bytes:
    """The error in the shape of the API that `path` belongs to."""
    if path == PADDLEX_PATH:
        body: dict[str, Any] = {
            "logId": log_id or str(uuid.uuid4()),
            "errorCode": error.status,
            "errorMsg": error.message,
        }
    else:
        body = error.openai()
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


class Guard:
    """Wraps the app: refuses what needs no route to refuse, caps the body, logs."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_upload: int) -> None:
        self.app = app
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._socket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        state = _Exchange(receive, send, self.max_upload)
        # A request without a body has nothing to drain after an early answer.
        state.body_done = headers.get("content-length", b"0") in (b"", b"0") and (
            "transfer-encoding" not in headers
        )
        try:
            refusal = self._refusal(scope["path"], headers)
            if refusal is not None:
                await state.answer(scope["path"], refusal)
            else:
                await self.app(scope, state.receive, state.send)
            await state.finish()
        finally:
            _log(scope, state, time.monotonic() - started)

    async def _socket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket connection, passed through counted; logged once it is over (the route
        checks the key itself: a browser cannot send the header)."""
        started = time.monotonic()
        socket = scope[SOCKET] = Socket()

        async def counted_receive() -> Message:
            message = await receive()
            socket.heard(message)
            return message

        async def counted_send(message: Message) -> None:
            socket.said(message)
            await send(message)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            _log_socket(scope, socket, time.monotonic() - started)

    def _refusal(self, path: str, headers: dict[str, bytes]) -> ApiError | None:
        if self.api_key is not None and path not in OPEN_PATHS:
            given = headers.get("authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.api_key):
                return ApiError(
                    401,
                    "missing or wrong API key: send Authorization: Bearer KEY",
                    code="invalid_api_key",
                )
        length = headers.get("content-length", b"")
        if length.isdigit() and int(length) > self.max_upload:
            return too_large(self.max_upload)
        return None


def too_large(cap: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than this server takes ({cap} bytes; --max-upload)",
        param="file",
        code="too_large",
    )


class _Exchange:
    """One request's receive and send, counted: the body against the cap, the status and
    the bytes for the log; the response's last message held back until the body is drained."""

    def __init__(self, receive: Receive, send: Send, cap: int) -> None:
        self._receive = receive
        self._send = send
        self.cap = cap
        self.received = 0
        self.sent = 0
        self.status = 0
        self.body_done = False
        self._held: Message | None = None

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.body_done = not message.get("more_body", False)
            if self.received > self.cap:
                raise Oversize
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))
            if not message.get("more_body", False) and not self.body_done:
                # Answered before the body was all read: keep the response open, so the
                # server still reads what the client is sending, and close it in finish().
                self._held = message
                message = {**message, "more_body": True}
        await self._send(message)

    async def answer(self, path: str, error: ApiError) -> None:
        body = error_body(path, error)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await self.send({"type": "http.response.start", "status": error.status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def finish(self) -> None:
        """Drain what is left of the body (bounded), then close a held response."""
        if self._held is None:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        drained = 0
        while not self.body_done and drained < DRAIN_FACTOR * self.cap:
            if time.monotonic() > deadline:
                break
            message = await self._receive()
            if message["type"] != "http.request":
                break
            drained += len(message.get("body", b""))
            self.body_done = not message.get("more_body", False)
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


@dataclass
class Socket:
    """One WebSocket connection, counted for its access-log line: the route adds the
    seconds of audio it received."""

    status: int = 0  # 101 once accepted; 403 when closed before (uvicorn answers 403)
    close_code: int | None = None  # the first close, the server's or the client's
    closed_by: str = ""
    bytes_in: int = 0
    bytes_out: int = 0
    audio_seconds: float = 0.0

    def heard(self, message: Message) -> None:
        if message["type"] == "websocket.receive":
            self.bytes_in += _frame_size(message)
        elif message["type"] == "websocket.disconnect" and self.close_code is None:
            self.close_code, self.closed_by = int(message.get("code", 1005)), "client"

    def said(self, message: Message) -> None:
        if message["type"] == "websocket.accept":
            self.status = 101
        elif message["type"] == "websocket.send":
            self.bytes_out += _frame_size(message)
        elif message["type"] == "websocket.close" and self.close_code is None:
            self.close_code, self.closed_by = int(message.get("code", 1000)), "server"
            self.status = self.status or 403


def _frame_size(message: Message) -> int:
    data = message.get("bytes")
    return len(data) if data is not None else len((message.get("text") or "").encode("utf-8"))


def _log_socket(scope: Scope, socket: Socket, seconds: float) -> None:
    """The request's fields, and how the connection closed and how much audio came."""
    fields: dict[str, Any] = {"status": socket.status, "close_code": socket.close_code}
    fields |= {"closed_by": socket.closed_by, "seconds": round(seconds, 3)}
    fields |= {"bytes_in": socket.bytes_in, "bytes_out": socket.bytes_out}
    _write(scope, "WEBSOCKET", fields | {"audio_seconds": round(socket.audio_seconds, 3)})


def _log(scope: Scope, state: _Exchange, seconds: float) -> None:
    """Who, what, how it ended, how long, how much."""
    fields = {"status": state.status, "seconds": round(seconds, 3), "bytes_in": state.received}
    _write(scope, scope.get("method"), fields | {"bytes_out": state.sent})


def _write(scope: Scope, method: str | None, fields: dict[str, Any]) -> None:
    """One JSON line in the access log."""
    client = scope.get("client") or ("", 0)
    line = {"client": f"{client[0]}:{client[1]}", "method": method, "path": scope.get("path")}
    access.info("%s", json.dumps(line | fields))
