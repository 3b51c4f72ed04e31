"""OpenAI's audio API over the engine: `/v1/audio/transcriptions`, `/v1/audio/translations`
and `/v1/models`, in the shapes the official `openai` client parses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from ffscribe.cli.serve.errors import ApiError
from ffscribe.cli.serve.models import check_model, offline_models
from ffscribe.cli.serve.service import Request as Asked
from ffscribe.cli.serve.service import Service, save_stream, upload_folder
from ffscribe.core.data.transcript import Segment, Transcript
from ffscribe.formats import render

router = APIRouter(prefix="/v1")
stream_log = logging.getLogger("ffscribe.serve.stream")
FORMATS = ("json", "text", "srt", "vtt", "verbose_json", "diarized_json")
GRANULARITIES = ("word", "segment")
MAX_FIELDS = 64
KEEPALIVE_SECONDS = 10.0


@router.post("/audio/transcriptions")
async def transcriptions(request: Request) -> Response:
    return await _audio(request, task="transcribe")


@router.post("/audio/translations")
async def translations(request: Request) -> Response:
    return await _audio(request, task="translate")


@router.get("/models")
async def models(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    return JSONResponse({"object": "list", "data": offline_models(service.served_name)})


@router.get("/models/{model_id:path}")
async def model(model_id: str, request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    for card in offline_models(service.served_name):
        if card["id"] == model_id:
            return JSONResponse(card)
    raise ApiError(
        404, f"no model {model_id!r} on this server", param="model", code="model_not_found"
    )


async def _audio(request: Request, *, task: str) -> Response:
    """Admit, save the upload, run it on the engine, answer in the asked format; the upload
    folder and the place in the queue last as long as the response (a stream's too)."""
    service: Service = request.app.state.service
    stack = contextlib.AsyncExitStack()
    async with stack:
        stack.enter_context(service.admitted())
        folder = await stack.enter_async_context(upload_folder())
        async with request.form(max_files=1, max_fields=MAX_FIELDS) as form:
            asked, fmt, words, stream = _parse(form, task, service.served_name)
            renders = _renders(form)
            upload = form.get("file")
            assert isinstance(upload, UploadFile)  # _parse checked it
            path = await run_in_threadpool(save_stream, upload.file, folder, upload.filename)
        options = service.options(asked)
        if stream:
            return _Stream(_events(service, path, options), stack.pop_all())
        transcript = await service.transcribe(path, options)
    return _respond(transcript, fmt, task, words, renders)


def _parse(form: FormData, task: str, served: str) -> tuple[Asked, str, bool, bool]:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "no file: send the audio as the multipart field 'file'", param="file")
    check_model(_text(form, "model") or "", served)
    fmt = (_text(form, "response_format") or "json").lower()
    if fmt not in FORMATS:
        raise ApiError(
            400, f"response_format must be one of {', '.join(FORMATS)}", param="response_format"
        )
    grains = [str(g) for g in form.getlist("timestamp_granularities[]")]
    grains += [str(g) for g in form.getlist("timestamp_granularities")]
    for grain in grains:
        if grain not in GRANULARITIES:
            raise ApiError(
                400,
                "timestamp_granularities[] takes word and/or segment",
                param="timestamp_granularities[]",
            )
    words = "word" in grains or _flag(form, "word_timestamps")
    diarize = fmt == "diarized_json" or _flag(form, "diarize")
    asked = Asked(
        task=task,
        language=_text(form, "language") if task == "transcribe" else None,
        prompt=_text(form, "prompt"),
        temperature=_number(form, "temperature"),
        word_timestamps=words,
        diarize=diarize,
        speakers=_count(form, "speakers"),
        min_speakers=_count(form, "min_speakers"),
        max_speakers=_count(form, "max_speakers"),
        detect_music=_flag(form, "detect_music"),
        skip_music=_flag(form, "skip_music"),
    )
    return asked, fmt, words, _flag(form, "stream")


def _renders(form: FormData) -> tuple[str, ...]:
    """Our `renders` field: with verbose_json, these formats as the CLI writes them too
    (the page's downloads)."""
    from ffscribe.core.data.errors import UsageError
    from ffscribe.formats import parse_formats

    spec = _text(form, "renders")
    try:
        return parse_formats(spec) if spec else ()
    except UsageError as exc:
        raise ApiError(400, exc.message, param="renders") from None


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


def _flag(form: FormData, name: str) -> bool:
    value = (_text(form, name) or "false").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ApiError(400, f"{name} must be true or false", param=name)
    return value in ("true", "1", "yes")


def _number(form: FormData, name: str) -> float | None:
    value = _text(form, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ApiError(400, f"{name} must be a number", param=name) from None
    if not 0.0 <= number <= 1.0:
        raise ApiError(400, f"{name} must be between 0 and 1", param=name)
    return number


def _count(form: FormData, name: str) -> int | None:
    value = _text(form, name)
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, f"{name} must be a positive whole number", param=name)
    return int(value)


def _respond(
    transcript: Transcript, fmt: str, task: str, words: bool, renders: tuple[str, ...]
) -> Response:
    if fmt in ("text", "srt", "vtt"):
        name = "txt" if fmt == "text" else fmt
        return PlainTextResponse(render(transcript, name))
    if fmt == "verbose_json":
        body = verbose(transcript, task, words=words)
        if renders:
            body["renders"] = {name: render(transcript, name) for name in renders}
        return JSONResponse(body)
    if fmt == "diarized_json":
        return JSONResponse(diarized(transcript, task))
    return JSONResponse({"text": transcript.text, "usage": _usage(transcript)})


def verbose(transcript: Transcript, task: str, *, words: bool) -> dict[str, Any]:
    """OpenAI's verbose_json: the whole text, its segments, and its words when asked."""
    out: dict[str, Any] = {
        "task": task,
        "language": transcript.language,
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": [segment_fields(s) for s in transcript.segments],
        "usage": _usage(transcript),
    }
    if words:
        out["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end}
            for s in transcript.segments
            for w in s.words
        ]
    return out


def segment_fields(segment: Segment) -> dict[str, Any]:
    """A segment as openai-whisper (and OpenAI's verbose_json) writes it."""
    return {
        key: value
        for key, value in segment.to_dict().items()
        if key in ("id", "seek", "start", "end", "text", "tokens", "temperature")
        or key in ("avg_logprob", "compression_ratio", "no_speech_prob")
    }


def diarized(transcript: Transcript, task: str) -> dict[str, Any]:
    """OpenAI's diarized_json: segments of one speaker each, with the speaker's label."""
    return {
        "task": task,
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{s.id}",
                "start": s.start,
                "end": s.end,
                "text": s.text.strip(),
                "speaker": s.speaker or "unknown",
            }
            for s in transcript.segments
        ],
        "usage": _usage(transcript),
    }


def _usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": round(transcript.duration)}


class _Stream(StreamingResponse):
    """An event stream that owns the request's upload and place in the queue: they are
    released when the response ends, however it ends (a client gone before the first event)."""

    def __init__(self, events: AsyncIterator[str], holding: contextlib.AsyncExitStack) -> None:
        super().__init__(events, media_type="text/event-stream")
        self._holding = holding

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._holding.aclose()


async def _events(service: Service, path: str, options: Any) -> AsyncIterator[str]:
    """Server-sent events as the client expects: a `transcript.text.delta` per segment as the
    engine finds it final, one `transcript.text.done` with the whole text, then `[DONE]`;
    errors as an `error` event. While nothing comes, a comment line every few seconds keeps
    proxies from closing an idle stream (SSE clients ignore comments)."""
    loop = asyncio.get_running_loop()
    heard: asyncio.Queue[Segment] = asyncio.Queue()

    def on_segment(segment: Segment) -> None:  # on a worker thread
        loop.call_soon_threadsafe(heard.put_nowait, segment)

    job = asyncio.ensure_future(service.transcribe(path, options, on_segment=on_segment))
    sent: list[str] = []
    nxt: asyncio.Future[Segment] | None = None
    try:
        while True:
            if nxt is not None and nxt.done():
                segment, nxt = nxt.result(), None
            elif not heard.empty():
                segment = heard.get_nowait()
            elif job.done():
                break
            else:
                # Wake for whichever comes first: a segment, the job's end, the keepalive.
                nxt = nxt or asyncio.ensure_future(heard.get())
                waiting: set[asyncio.Future[Any]] = {job, nxt}
                done, _ = await asyncio.wait(
                    waiting, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    yield ": working\n\n"
                continue
            delta = _delta(segment.text, sent)
            if delta:
                yield _event({"type": "transcript.text.delta", "delta": delta})
                stream_log.debug("delta %d sent", len(sent))
        transcript = job.result()
    except ApiError as exc:
        yield _event(exc.openai())
        yield "data: [DONE]\n\n"
        return
    finally:
        job.cancel()  # the client went away: stop the job too
        if nxt is not None:
            nxt.cancel()
    text, streamed = transcript.text, "".join(sent)
    if text.startswith(streamed):  # what later steps added (speakers split segments) or kept
        if text[len(streamed) :]:
            yield _event({"type": "transcript.text.delta", "delta": text[len(streamed) :]})
    else:
        stream_log.warning("the streamed deltas differ from the final text; done carries it")
    yield _event({"type": "transcript.text.done", "text": text})
    yield "data: [DONE]\n\n"


def _delta(text: str, sent: list[str]) -> str:
    """A segment's text as the next delta: the whole text is stripped, so the first is too."""
    delta = text if "".join(sent).strip() else text.lstrip()
    if delta:
        sent.append(delta)
    return delta


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
