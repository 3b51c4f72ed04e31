"""Errors as each API shapes them: OpenAI's `{"error": {...}}` and PaddleX's `errorCode`, from
one ApiError that carries the status code every client maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ffscribe.core.batch.download import TooLarge
from ffscribe.core.data.errors import (
    EnvironmentMissing,
    InputError,
    MediaError,
    TranscribeError,
    UsageError,
)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "server_error",
    504: "timeout_error",
}


@dataclass(eq=False)
class ApiError(Exception):
    """A request's failure: the HTTP status and what the body says."""

    status: int
    message: str
    type: str | None = None
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)
        if self.type is None:
            self.type = _TYPES.get(self.status, "server_error")

    def openai(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def from_transcribe_error(exc: TranscribeError, *, param: str = "file") -> ApiError:
    """An expected failure of the pipeline as the status a client acts on: the media or
    the options are the client's to fix (400), the server lacks something (503)."""
    message = exc.message  # never the server-side path of the upload
    if isinstance(exc, TooLarge):
        return ApiError(413, message, param=param, code="too_large")
    if isinstance(exc, InputError | MediaError):
        return ApiError(400, f"not usable as audio: {message}", param=param, code="invalid_audio")
    if isinstance(exc, UsageError):
        return ApiError(400, message, code="invalid_value")
    if isinstance(exc, EnvironmentMissing):
        return ApiError(503, message, code="unavailable")
    return ApiError(400, message, code="failed")
