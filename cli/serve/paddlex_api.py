"""PaddleX's serving API for its multilingual speech recognition pipeline:
`POST /multilingual-speech-recognition` with `{"audio": base64 | URL}`, answered with
`{"logId", "errorCode", "errorMsg", "result": {text, segments, language}}`."""

from __future__ import annotations

import base64
import binascii
import os
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ffscribe.cli.serve.errors import ApiError
from ffscribe.cli.serve.guard import PADDLEX_PATH
from ffscribe.cli.serve.openai_api import segment_fields
from ffscribe.cli.serve.service import Limits, Service, fetch_media, upload_folder
from ffscribe.cli.serve.service import Request as Asked
from ffscribe.core.data.transcript import Source, Transcript

router = APIRouter()
_CAMEL = {
    "avg_logprob": "avgLogProb",
    "compression_ratio": "compressionRatio",
    "no_speech_prob": "noSpeechProb",
}


@router.post(PADDLEX_PATH)
async def infer(request: Request) -> JSONResponse:
    service: Service = request.app.state.service
    log_id = str(uuid.uuid4())
    request.state.log_id = log_id
    with service.admitted():
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, 'the body is not JSON: send {"audio": ...}') from None
        audio = body.get("audio") if isinstance(body, dict) else None
        if not isinstance(audio, str) or not audio:
            raise ApiError(400, "'audio' is required: base64 bytes or an http(s) URL")
        async with upload_folder() as folder:
            path, source = await run_in_threadpool(_materialize, audio, folder, service.limits)
            transcript = await service.transcribe(path, service.options(Asked()), source=source)
    return JSONResponse(
        {"logId": log_id, "errorCode": 0, "errorMsg": "Success", "result": result(transcript)}
    )


def result(transcript: Transcript) -> dict[str, Any]:
    """PaddleX's InferResult: its segment fields in camelCase."""
    return {
        "text": transcript.text,
        "segments": [
            {_CAMEL.get(key, key): value for key, value in segment_fields(s).items()}
            for s in transcript.segments
        ],
        "language": transcript.language,
    }


def _materialize(audio: str, folder: str, limits: Limits) -> tuple[str, Source | None]:
    """The request's audio as a local file: a URL fetched under the CLI's rules, a path
    only inside a directory the operator allowed, else base64 bytes written to `folder`."""
    if audio.startswith(("http://", "https://")):
        return fetch_media(audio, folder, limits, param="audio"), Source(kind="url", uri=audio)
    if audio.startswith(("/", "file:")):
        return _allowed_path(audio.removeprefix("file://"), limits), None
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "'audio' is neither base64 bytes nor an http(s) URL") from None
    path = os.path.join(folder, "upload")
    with open(path, "wb") as out:
        out.write(data)
    return path, None


def _allowed_path(text: str, limits: Limits) -> str:
    path = Path(text).resolve()
    if not any(path.is_relative_to(root) for root in limits.allowed_dirs):
        raise ApiError(
            403, "server-side paths are refused outside the directories given by --allow-path"
        )
    if not path.is_file():
        raise ApiError(400, "no such file under the allowed directories")
    return str(path)
