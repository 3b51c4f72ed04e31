"""The FastAPI app: the routes of each API, errors in each API's own shape, `/health`, and
the page at `/`; wrapped in the Guard (key, upload cap, access log)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from ffscribe.cli.serve import batches, live_api, openai_api, paddlex_api
from ffscribe.cli.serve.batches import BatchRunner, BatchStore
from ffscribe.cli.serve.errors import ApiError, from_transcribe_error
from ffscribe.cli.serve.guard import Guard, Oversize, error_body, too_large
from ffscribe.cli.serve.service import Service
from ffscribe.core import __version__
from ffscribe.core.data.errors import TranscribeError, internal_error

log = logging.getLogger("ffscribe.serve")


def create_app(service: Service, *, api_key: str | None, data_dir: Path) -> Guard:
    """The ASGI app for `service`; the caller starts the service (loads the models). Batches
    run while the app runs, and are kept under `data_dir`."""
    runner = BatchRunner(service, BatchStore(data_dir / "batches"))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runner.running_in_background():
            yield

    app = FastAPI(
        title="ffscribe", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan
    )
    app.state.service = service
    app.state.batches = runner
    app.include_router(openai_api.router)
    app.include_router(paddlex_api.router)
    app.include_router(batches.router)
    app.include_router(live_api.router)
    app.state.api_key = api_key.encode("utf-8") if api_key else None  # WS /v1/live checks it
    _handlers(app, service)

    @app.get("/health")
    async def health() -> JSONResponse:
        if not service.ready:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "model": service.served_name, "workers": service.workers}
        )

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        text = resources.files("ffscribe.cli.serve").joinpath("page/index.html").read_text("utf-8")
        return HTMLResponse(text)

    return Guard(app, api_key=api_key, max_upload=service.limits.max_upload)


def _answer(request: Request, error: ApiError) -> Response:
    log_id = getattr(request.state, "log_id", "")
    return Response(
        error_body(request.url.path, error, log_id),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


def _handlers(app: FastAPI, service: Service) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _answer(request, exc)

    async def transcribe_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TranscribeError)
        return _answer(request, from_transcribe_error(exc))

    async def oversize(request: Request, exc: Exception) -> Response:
        return _answer(request, too_large(service.limits.max_upload))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = "not_found" if exc.status_code == 404 else None
        return _answer(request, ApiError(exc.status_code, str(exc.detail), code=code))

    async def invalid(request: Request, exc: Exception) -> Response:
        return _answer(request, ApiError(400, f"invalid request: {exc}"))

    async def bug(request: Request, exc: Exception) -> Response:
        log.error("%s %s: %s", request.method, request.url.path, internal_error(exc), exc_info=exc)
        return _answer(request, ApiError(500, internal_error(exc), code="internal_error"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(TranscribeError, transcribe_error)
    app.add_exception_handler(Oversize, oversize)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, bug)
