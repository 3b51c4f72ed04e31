"""`WS /v1/live`: live transcription over a WebSocket, core/asr/live.py's commit policy on the
server's engine. Binary frames in (16 kHz mono s16le PCM, or with `format=container` any
stream ffmpeg reads), JSON events out: `ready`, `partial`, `segment`, `done`, `error`.

The session's decode steps run on the engine's workers (`Service.on_engine`), so live
sessions and file requests share the workers and the model; each step takes all the audio
that came while the last one decoded (at most MAX_STEP_SECONDS), so a slow step never builds
a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from ffscribe.cli.serve.errors import ApiError, from_transcribe_error
from ffscribe.cli.serve.guard import SOCKET
from ffscribe.cli.serve.service import Request as Asked
from ffscribe.cli.serve.service import Service
from ffscribe.core.asr.live import (
    LEAST_WINDOW,
    WINDOW,
    WINDOW_SECONDS,
    Committed,
    Done,
    Event,
    Hypothesis,
    LiveOptions,
    LiveSession,
    Partial,
    WhisperDecoder,
)
from ffscribe.core.data.errors import TranscribeError
from ffscribe.core.data.transcript import ModelInfo, Segment, Source
from ffscribe.core.media.ffmpeg import SAMPLE_RATE

log = logging.getLogger("ffscribe.serve.live")
router = APIRouter(prefix="/v1")
MAX_STEP_SECONDS = 8.0  # audio one step takes at most, as the CLI's live command
FORMATS = ("pcm", "container")


class Chunks(asyncio.Queue[npt.NDArray[np.float32] | None]):
    """The audio received, in order (None: the stream's end), its samples counted."""

    samples = 0

    def put_nowait(self, item: npt.NDArray[np.float32] | None) -> None:
        if item is not None:
            self.samples += item.size
        super().put_nowait(item)


# Close codes (RFC 6455): the client's key, its data, a full server, a bug.
_CLOSE = {401: 1008, 400: 1003, 413: 1009, 429: 1013, 503: 1013}


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    service: Service = websocket.app.state.service
    await websocket.accept()
    try:
        _check_key(websocket, websocket.app.state.api_key)
        fmt = websocket.query_params.get("format", "pcm")
        if fmt not in FORMATS:
            raise ApiError(400, f"format must be one of {', '.join(FORMATS)}", param="format")
        with service.admitted():
            session = _session(websocket, service)
            await _send(websocket, {"type": "ready", "model": service.served_name})
            await _run(websocket, service, session, fmt)
    except WebSocketDisconnect:
        return  # the client left: nothing to tell it
    except ApiError as exc:
        await _fail(websocket, exc)
        return
    except TranscribeError as exc:  # the stream's media failed, a bad option
        await _fail(websocket, from_transcribe_error(exc, param="audio"))
        return
    except Exception as exc:  # a bug: logged with its traceback, the client told
        log.exception("live session")
        await _fail(websocket, ApiError(500, f"internal error: {type(exc).__name__}"))
        return
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.close(1000)


def _check_key(websocket: WebSocket, key: bytes | None) -> None:
    """The server's key as `Authorization: Bearer KEY` or, for browsers (which cannot set
    headers on a WebSocket), the `api_key` query parameter; compared in constant time."""
    if key is None:
        return
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else websocket.query_params.get("api_key")
    if not given or not hmac.compare_digest(given.encode("utf-8"), key):
        raise ApiError(
            401,
            "missing or wrong API key: send Authorization: Bearer KEY (or ?api_key=KEY)",
            code="invalid_api_key",
        )


def _session(websocket: WebSocket, service: Service) -> LiveSession:
    """A session of the server's model with the request's language and task, greedy as the
    CLI's live command decodes."""
    params = websocket.query_params
    task = params.get("task", "transcribe")
    if task not in ("transcribe", "translate"):
        raise ApiError(400, "task must be transcribe or translate", param="task")
    try:
        options = service.options(Asked(task=task, language=params.get("language") or None))
    except TranscribeError as exc:
        raise from_transcribe_error(exc, param="language") from None
    window = _window(params.get("window"))
    decode = replace(options.decode, beam_size=1, best_of=1, temperatures=(0.0,))
    decoder = _OnEngine(WhisperDecoder(service.pipeline.recognizer, decode), service)
    return LiveSession(
        decoder, LiveOptions(window=window), source=Source(kind="pipe", uri="/v1/live")
    )


def _window(given: str | None) -> float:
    """The `window` query parameter: as `transcribe live --window`, 10 to 30 seconds."""
    if given is None:
        return float(WINDOW)
    try:
        window = float(given)
    except ValueError:
        window = -1.0
    if not LEAST_WINDOW <= window <= WINDOW_SECONDS:
        raise ApiError(400, f"window must be seconds from {LEAST_WINDOW} to 30", param="window")
    return window


class _OnEngine:
    """A live Decoder whose model calls run on the engine's workers."""

    def __init__(self, decoder: WhisperDecoder, service: Service) -> None:
        self.decoder = decoder
        self.service = service

    @property
    def info(self) -> ModelInfo:
        return self.decoder.info

    def decode(
        self,
        samples: npt.NDArray[np.float32],
        voiced: list[dict[str, int]],
        prompt: str,
        *,
        window: float = WINDOW,
        heard: npt.NDArray[np.float32] | None = None,
    ) -> Hypothesis:
        return self.service.on_engine(
            lambda: self.decoder.decode(samples, voiced, prompt, window=window, heard=heard)
        )


async def _run(websocket: WebSocket, service: Service, session: LiveSession, fmt: str) -> None:
    """Feed what comes to the session, a step at a time, and send its events; at the end of
    the stream (`{"type": "end"}`, or --max-duration reached) the last decode and `done`."""
    chunks = Chunks()
    source = _pcm(websocket, chunks) if fmt == "pcm" else _container(websocket, chunks)
    try:
        async with source:
            limit = int(service.limits.max_duration * SAMPLE_RATE)
            ended = False
            while not ended:
                pieces = [await chunks.get()]
                while not chunks.empty():  # all that came while the last step decoded
                    pieces.append(chunks.get_nowait())
                ended = pieces[-1] is None
                audio = [p for p in pieces if p is not None]
                samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
                room = limit - int(session.fed_seconds * SAMPLE_RATE)
                if samples.size >= room:
                    samples, ended = samples[: max(room, 0)], True
                step = int(MAX_STEP_SECONDS * SAMPLE_RATE)
                for at in range(0, samples.size, step):
                    for event in await run_in_threadpool(session.feed, samples[at : at + step]):
                        await _send(websocket, _event(event))
            for event in await run_in_threadpool(session.finish):
                await _send(websocket, _event(event))
    finally:
        socket = websocket.scope.get(SOCKET)
        if socket is not None:  # the access log's line says how much audio came
            socket.audio_seconds = chunks.samples / SAMPLE_RATE


@contextlib.asynccontextmanager
async def _pcm(websocket: WebSocket, chunks: Chunks) -> AsyncIterator[None]:
    """Binary frames of s16le PCM (any size; an odd byte waits for the next frame)."""
    carry = b""

    async def on_bytes(data: bytes) -> None:
        nonlocal carry
        data, carry = carry + data, b""
        if len(data) % 2:
            data, carry = data[:-1], data[-1:]
        chunks.put_nowait(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)

    async def on_end() -> None:
        chunks.put_nowait(None)

    async with _receiving(websocket, on_bytes, on_end):
        yield


@contextlib.asynccontextmanager
async def _container(websocket: WebSocket, chunks: Chunks) -> AsyncIterator[None]:
    """Binary frames of a container stream (WebM/Ogg from a browser's MediaRecorder, MP3,
    WAV...) piped to ffmpeg, whose 16 kHz chunks are read on a thread as they come."""
    from ffscribe.core.media.stream import AudioStream, stdin_source

    read_end, write_end = os.pipe()
    pipe = os.fdopen(write_end, "wb", buffering=0)
    try:
        with os.fdopen(read_end, "rb") as stdin:
            stream = AudioStream(stdin_source(stdin))
    except BaseException:
        pipe.close()
        raise

    async def on_bytes(data: bytes) -> None:
        # ffmpeg gave up on the data (a broken pipe): its error comes from check().
        with contextlib.suppress(BrokenPipeError):
            await run_in_threadpool(pipe.write, data)

    async def on_end() -> None:
        await run_in_threadpool(pipe.close)

    async def pump() -> None:
        while (chunk := await run_in_threadpool(stream.read)) is not None:
            chunks.put_nowait(chunk)
        chunks.put_nowait(None)

    reader = asyncio.create_task(pump())
    try:
        async with _receiving(websocket, on_bytes, on_end):
            yield
        if reader.done():  # ffmpeg ended (not cut short by --max-duration): did it fail?
            await run_in_threadpool(stream.check)
    finally:
        reader.cancel()
        with contextlib.suppress(OSError):
            pipe.close()
        await run_in_threadpool(stream.close)


@contextlib.asynccontextmanager
async def _receiving(
    websocket: WebSocket,
    on_bytes: Callable[[bytes], Awaitable[None]],
    on_end: Callable[[], Awaitable[None]],
) -> AsyncIterator[None]:
    """Receive frames on a task of their own while the session decodes: binary frames are
    audio, `{"type": "end"}` ends the stream; a client that leaves ends it too."""

    async def receive() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await on_bytes(message["bytes"])
                elif _is_end(message.get("text")):
                    break
        finally:
            await on_end()

    task = asyncio.create_task(receive())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await task


def _is_end(text: str | None) -> bool:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return bool(json.loads(text or "").get("type") == "end")
    return False


def _event(event: Event) -> dict[str, Any]:
    if isinstance(event, Partial):
        return {"type": "partial", "stable": event.stable, "tentative": event.tentative}
    if isinstance(event, Committed):
        return {"type": "segment", **_segment(event.segment)}
    assert isinstance(event, Done)
    transcript = event.transcript
    return {
        "type": "done",
        "text": transcript.text,
        "language": transcript.language,
        "duration": round(transcript.duration, 3),
        "segments": [_segment(s) for s in transcript.segments],
    }


def _segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "start": round(segment.start, 3),
        "end": round(segment.end, 3),
        "text": segment.text,
    }


async def _send(websocket: WebSocket, data: dict[str, Any]) -> None:
    try:
        await websocket.send_text(json.dumps(data, ensure_ascii=False))
    except (OSError, RuntimeError) as exc:  # the client left without a word
        raise WebSocketDisconnect(1001) from exc


async def _fail(websocket: WebSocket, error: ApiError) -> None:
    """Tell the client in OpenAI's error shape, then close with the matching code."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await _send(websocket, {"type": "error", **error.openai()})
        await websocket.close(_CLOSE.get(error.status, 1011), error.message[:120])
