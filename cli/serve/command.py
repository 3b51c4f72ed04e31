"""The `transcribe serve` command: the server's defaults from the same options as the CLI,
models loaded before the port opens, then uvicorn until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

from ffscribe.cli import options as opt
from ffscribe.cli.app import P_RUN
from ffscribe.cli.run import setup_logging
from ffscribe.cli.to_core import (
    MusicArgs,
    SpeakerArgs,
    diarize_options,
    language_code,
    model_options,
    music_options,
)
from ffscribe.core.batch.download import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, FetchOptions
from ffscribe.core.data.errors import EnvironmentMissing, ExitCode, TranscribeError
from ffscribe.core.data.options import DEFAULT_MODEL, DecodeOptions
from ffscribe.core.engine import timeline

if TYPE_CHECKING:
    from ffscribe.cli.serve.service import Given, Limits
    from ffscribe.core.engine.pipeline import Pipeline

P_SERVE = "Service"
LOOPBACK = "127.0.0.1"

app = typer.Typer(
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

EPILOG = (
    "OpenAI's audio API under /v1, PaddleX's POST /multilingual-speech-recognition, a page "
    "at /, GET /health. Exit status: 0 stopped cleanly; 2 usage error; 3 a model or the "
    "serve extra is missing (pip install 'ffscribe[serve]'). See docs/serve.md."
)


@app.command(epilog=EPILOG)
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on (default 127.0.0.1; without an API key, only an "
            "explicit --host listens elsewhere).",
            rich_help_panel=P_SERVE,
        ),
    ] = None,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on.", rich_help_panel=P_SERVE)
    ] = 8000,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="FFSCRIBE_API_KEY",
            show_envvar=True,
            help="Require 'Authorization: Bearer KEY' on every API request.",
            rich_help_panel=P_SERVE,
        ),
    ] = None,
    max_upload: Annotated[
        int,
        typer.Option(
            metavar="SIZE",
            parser=opt._bytes,
            show_default="512M",
            help="Refuse (413) a request body larger than this: 512M, 25M, 64K, bytes.",
            rich_help_panel=P_SERVE,
        ),
    ] = 512 << 20,
    max_queue: Annotated[
        int,
        typer.Option(
            min=0,
            help="Requests that may wait for a worker; more are refused (429, Retry-After).",
            rich_help_panel=P_SERVE,
        ),
    ] = 16,
    max_duration: Annotated[
        float,
        typer.Option(
            min=1.0,
            metavar="SECONDS",
            help="Refuse (413) media longer than this; longer streams are cut here.",
            rich_help_panel=P_SERVE,
        ),
    ] = 4 * 3600.0,
    request_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            metavar="SECONDS",
            help="Cancel a request not answered in this time (504).",
            rich_help_panel=P_SERVE,
        ),
    ] = 3600.0,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="SECONDS",
            help="On SIGTERM, let running requests finish for this long, then cancel them.",
            rich_help_panel=P_SERVE,
        ),
    ] = 30.0,
    batch_retention: Annotated[
        float,
        typer.Option(
            min=0.0,
            metavar="SECONDS",
            help="Remove a finished batch and its results this long after its last file "
            "ended (default 7 days; 0 keeps them for ever).",
            rich_help_panel=P_SERVE,
        ),
    ] = 7 * 86400.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="FFSCRIBE_DATA_DIR",
            help="Where batches and their results are kept across restarts "
            "(default: $XDG_DATA_HOME/ffscribe/serve).",
            rich_help_panel=P_SERVE,
        ),
    ] = None,
    allow_path: Annotated[
        list[Path],
        typer.Option(
            metavar="DIR",
            help="A directory whose files a PaddleX request may name by path (repeatable; "
            "default: none).",
            rich_help_panel=P_SERVE,
        ),
    ] = [],  # noqa: B006 - Typer reads the default; it is never mutated
    model: opt.Model = DEFAULT_MODEL,
    device: opt.Device = "auto",
    compute_type: opt.ComputeType = "auto",
    threads: opt.Threads = 0,
    jobs: opt.Jobs = 0,
    batch_size: opt.BatchSize = 0,
    language: opt.Language = None,
    beam_size: opt.BeamSize = 5,
    vad: opt.Vad = True,
    word_timestamps: opt.WordTimestamps = False,
    max_download: opt.MaxDownload = DEFAULT_MAX_BYTES,
    download_deadline: opt.DownloadDeadline = DEFAULT_DEADLINE,
    diarize: opt.Diarize = False,
    diarizer: opt.Diarizer = "auto",
    speakers: opt.Speakers = None,
    min_speakers: opt.MinSpeakers = None,
    max_speakers: opt.MaxSpeakers = None,
    diarization_model: opt.DiarizationModel = None,
    hf_token: opt.HfToken = None,
    detect_music: opt.DetectMusic = False,
    skip_music: opt.SkipMusic = False,
    music_threshold: opt.MusicThreshold = 0.5,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Errors only; no access log.", rich_help_panel=P_RUN),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Debug logs and tracebacks.", rich_help_panel=P_RUN)
    ] = False,
) -> None:
    """Serve transcription over HTTP: OpenAI's audio API, PaddleX's API and a page."""
    from ffscribe.cli.serve.service import Given, Limits
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions

    setup_logging(quiet=quiet, verbose=False, debug=debug)
    _access_log(quiet=quiet)
    options = PipelineOptions(
        model=model_options(
            model, device=device, compute_type=compute_type, threads=threads, jobs=jobs
        ),
        decode=DecodeOptions(
            language=language_code(language),
            beam_size=beam_size,
            vad=vad,
            word_timestamps=word_timestamps,
            batch_size=batch_size,
        ),
    )
    given = Given(music=MusicArgs.given(ctx.params), speakers=SpeakerArgs.given(ctx.params))
    options = replace(
        options,
        music=music_options(given.music),
        skip_music=skip_music,
        diarize=diarize_options(given.speakers),
    )
    limits = Limits(
        max_upload=max_upload,
        max_queue=max_queue,
        max_duration=max_duration,
        request_timeout=request_timeout,
        shutdown_grace=shutdown_grace,
        fetch=FetchOptions(max_bytes=max_download, deadline=download_deadline),
        allowed_dirs=tuple(p.resolve() for p in allow_path),
        batch_retention=batch_retention,
    )
    where = _Where(host=host, port=port, data_dir=data_dir or _default_data_dir())
    code = _run(Pipeline(options), limits, where, given, api_key=api_key or None)
    raise typer.Exit(int(code))


@dataclass(frozen=True)
class _Where:
    """Where the server listens and keeps its batches."""

    host: str | None
    port: int
    data_dir: Path


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(base) / "ffscribe" / "serve"


def _run(
    pipeline: Pipeline, limits: Limits, where: _Where, given: Given, *, api_key: str | None
) -> ExitCode:
    """The error boundary: load, bind, serve; expected failures become one line and a code."""
    from ffscribe.cli.serve.service import Service

    try:
        uvicorn = _uvicorn()
        from ffscribe.cli.serve.app import create_app

        service = Service(pipeline, limits, served_name=pipeline.options.model.name, given=given)
        _say(f"loading {service.served_name}")
        service.start()
    except TranscribeError as exc:
        typer.echo(f"transcribe serve: {exc}", err=True)
        return exc.exit_code
    bind = where.host or LOOPBACK
    _say_exposure(bind, explicit=where.host is not None, keyed=api_key is not None)
    _say(f"serving {service.served_name} on http://{bind}:{where.port} ({service.workers} workers)")
    config = uvicorn.Config(
        create_app(service, api_key=api_key, data_dir=where.data_dir),
        host=bind,
        port=where.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=limits.shutdown_grace,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    # uvicorn raises the stopping signal again once it is done; with these handlers that
    # lands here, not in the default handler, so the clean-up below still runs.
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        service.stop()
        timeline.flush()  # the exit may be os._exit (threads left): atexit would not run
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return ExitCode.OK if server.started else ExitCode.FAILED


def _stopped(signum: int, frame: FrameType | None) -> None:
    """A signal after uvicorn's stop: the stop is under way already."""


def _uvicorn() -> ModuleType:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise EnvironmentMissing(
            f"transcribe serve needs the serve extra ({exc.name} is missing): "
            "pip install 'ffscribe[serve]'"
        ) from exc
    return uvicorn


def _say_exposure(bind: str, *, explicit: bool, keyed: bool) -> None:
    """Say at start who can reach the server, so an open one is never a surprise."""
    if keyed:
        _say("requests need the API key (Authorization: Bearer KEY)")
    elif explicit and bind not in (LOOPBACK, "localhost", "::1"):
        _say(f"no API key: anyone who can reach {bind} may use this server")
    else:
        _say(f"no API key: listening on {bind} only (--host ADDR listens elsewhere)")


def _say(text: str) -> None:
    typer.echo(f"transcribe serve: {text}", err=True)


def _access_log(*, quiet: bool) -> None:
    """The access log on standard error at INFO, whatever the other loggers' level."""
    access = logging.getLogger("ffscribe.serve.access")
    if quiet:
        access.setLevel(logging.ERROR)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False


def main(argv: list[str]) -> None:
    """`transcribe serve ARGS`: run the command with `argv` (the words after `serve`)."""
    app(args=argv, prog_name="transcribe serve")
