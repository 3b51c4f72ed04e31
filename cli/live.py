"""The `transcribe live` command: a microphone, standard input or a stream URL in, words out as
they are committed. Options -> a LiveSession over ffmpeg's stream; no policy here."""

from __future__ import annotations

import logging
import queue
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer

from ffscribe.cli import options as opt
from ffscribe.cli.live_view import LinesView, LiveFiles, TerminalView
from ffscribe.cli.progress import printable
from ffscribe.cli.run import _signals_stop, setup_logging
from ffscribe.cli.to_core import language_code, model_options
from ffscribe.core.asr.live import (
    LEAST_WINDOW,
    WINDOW_SECONDS,
    Committed,
    Event,
    LiveOptions,
    LiveSession,
)
from ffscribe.core.asr.live import WINDOW as LIVE_WINDOW
from ffscribe.core.data.errors import ExitCode, TranscribeError, internal_error
from ffscribe.core.data.options import DEFAULT_MODEL, DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import Source
from ffscribe.core.media.ffmpeg import SAMPLE_RATE, checked
from ffscribe.core.media.stream import (
    AudioStream,
    StreamSource,
    file_source,
    input_devices,
    microphone,
    stdin_source,
)
from ffscribe.formats import WRITERS, parse_formats, render

log = logging.getLogger("ffscribe.live")

EPILOG = (
    "Exit status: 0 the source ended or --max-duration was reached; 1 the source failed; "
    "2 usage error; 3 no microphone or another lack of the machine; 130 stopped by Ctrl-C or "
    "SIGTERM (outputs complete all the same)."
)
P_SRC = "Source"
P_IO = "Outputs"
P_LIVE = "Live decoding"
CATCH_UP = 8 * SAMPLE_RATE  # the most audio one decode takes on when it has fallen behind

app = typer.Typer(
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


@app.command(epilog=EPILOG)
def live(
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="SOURCE",
            help="'-' for audio on standard input (any container ffmpeg reads as a stream), a "
            "file, or a URL of a live stream (HTTP/Icecast, HLS); the default microphone when "
            "omitted. A file named '-' or 'live' is './-' or './live'.",
        ),
    ] = None,
    device_name: Annotated[
        str | None,
        typer.Option(help="Capture from this device (see --list-devices).", rich_help_panel=P_SRC),
    ] = None,
    list_devices: Annotated[
        bool,
        typer.Option(
            "--list-devices", help="List capture devices and exit.", rich_help_panel=P_SRC
        ),
    ] = False,
    realtime: Annotated[
        bool,
        typer.Option(
            "--realtime",
            help="Read a file at the speed it plays (demos, tests).",
            rich_help_panel=P_SRC,
        ),
    ] = False,
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Read a file at this many times the speed it plays (implies --realtime).",
            rich_help_panel=P_SRC,
        ),
    ] = None,
    max_duration: Annotated[
        float | None,
        typer.Option(min=0.1, help="Stop after this many seconds of audio.", rich_help_panel=P_SRC),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="Also write these formats, comma-separated ("
            + ", ".join(n for n in WRITERS if n != "rttm")
            + "), valid after every committed segment.",
            rich_help_panel=P_IO,
        ),
    ] = None,
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir", "-o", help="Directory for --format outputs.", rich_help_panel=P_IO
        ),
    ] = Path("."),
    name: Annotated[
        str | None,
        typer.Option(
            help="File name stem of the outputs (default: the source's, or 'live').",
            rich_help_panel=P_IO,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace outputs that exist.", rich_help_panel=P_IO),
    ] = False,
    stdout: Annotated[
        bool,
        typer.Option(
            "--stdout",
            help="Committed lines only, with times, even on a terminal (the default on a pipe).",
            rich_help_panel=P_IO,
        ),
    ] = False,
    model: opt.Model = DEFAULT_MODEL,
    device: opt.Device = "auto",
    compute_type: opt.ComputeType = "auto",
    threads: opt.Threads = 0,
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            "-l",
            help="Spoken language code (default: detect once).",
            rich_help_panel=P_LIVE,
        ),
    ] = None,
    task: opt.Task = "transcribe",
    beam_size: opt.BeamSize = 1,
    step: Annotated[
        float,
        typer.Option(min=0.2, help="Seconds of new audio between decodes.", rich_help_panel=P_LIVE),
    ] = 0.5,
    window: Annotated[
        float,
        typer.Option(
            min=float(LEAST_WINDOW),
            max=float(WINDOW_SECONDS),
            help="Least seconds of audio the model reads per step: 15 (the default) about halves "
            "a step's time against Whisper's own 30, and so the delay before words commit.",
            rich_help_panel=P_LIVE,
        ),
    ] = LIVE_WINDOW,
    diarize: Annotated[
        bool, typer.Option("--diarize", help="Not available live.", rich_help_panel=P_LIVE)
    ] = False,
    quiet: opt.Quiet = False,
    verbose: opt.Verbose = False,
    debug: opt.Debug = False,
) -> None:
    """Transcribe a microphone, standard input or a live stream as it is spoken."""
    setup_logging(quiet=quiet, verbose=verbose, debug=debug)
    if diarize:
        raise typer.BadParameter(
            "speakers are not labelled live; run `transcribe --diarize` on the recording",
            param_hint="--diarize",
        )
    if task not in ("transcribe", "translate"):
        raise typer.BadParameter("use transcribe or translate", param_hint="--task")
    if list_devices:
        raise typer.Exit(_list_devices())
    formats = _formats(fmt)
    stream_source = _source(source, device_name, speed or (1.0 if realtime else None))
    stem = name or _stem(source)
    dests = {f: output_dir / f"{stem}.{WRITERS[f].extension}" for f in formats}
    taken = [str(d) for d in dests.values() if d.exists()]
    if taken and not overwrite:
        raise typer.BadParameter(f"{', '.join(taken)} exists (--overwrite replaces it)")
    decode = DecodeOptions(
        language=language_code(language),
        task=task,  # type: ignore[arg-type]
        beam_size=beam_size,
        best_of=1,
        temperatures=(0.0,),
    )
    loaded = model_options(model, device=device, compute_type=compute_type, threads=threads, jobs=1)
    code = _run(
        stream_source,
        loaded,
        decode,
        LiveOptions(step=step, window=window),
        dests,
        max_duration=max_duration,
        plain=stdout or not sys.stdout.isatty(),
    )
    raise typer.Exit(int(code))


def _run(
    source: StreamSource,
    model: ModelOptions,
    decode: DecodeOptions,
    options: LiveOptions,
    dests: dict[str, Path],
    *,
    max_duration: float | None,
    plain: bool,
) -> ExitCode:
    """The error boundary: load the model, stream, show and write; map the end to a status."""
    files = LiveFiles(dests, lambda t, f: render(t, f))
    session: LiveSession | None = None
    with _signals_stop() as stop:
        view: LinesView | TerminalView | None = None
        try:
            session = _session(source, model, decode, options)
            view = LinesView(sys.stdout) if plain else TerminalView()
            _stream(session, source, view, files, max_duration)
            code = ExitCode.OK
        except KeyboardInterrupt:
            stop.stopping = True  # a second signal must not cut the outputs short
            code = ExitCode.INTERRUPTED
        except TranscribeError as exc:
            stop.stopping = True
            log.error("%s", exc)
            code = exc.exit_code
        except Exception as exc:  # a bug: one line, the traceback only with --debug
            stop.stopping = True
            log.debug("internal error", exc_info=True)
            log.error("%s", internal_error(exc))
            code = ExitCode.FAILED
        stop.stopping = True
        if session is not None:
            code = _finish(session, view, files, code)
        elif view is not None:
            view.close()
    return code


def _finish(
    session: LiveSession, view: LinesView | TerminalView | None, files: LiveFiles, code: ExitCode
) -> ExitCode:
    """Commit what is left (one last decode), show it, and write every file complete."""
    try:
        for event in session.finish():
            if view is not None:
                view.show(event)
        if view is not None:
            view.close()
        if session.fed_seconds or code in (ExitCode.OK, ExitCode.INTERRUPTED):
            files.finish(session.transcript())
    except TranscribeError as exc:
        log.error("%s", exc)
        return max(code, exc.exit_code)
    return code


def _session(
    source: StreamSource, model: ModelOptions, decode: DecodeOptions, options: LiveOptions
) -> LiveSession:
    from ffscribe.core.asr.live import WhisperDecoder
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions

    # One worker with every core: a live session decodes one buffer at a time.
    pipeline = Pipeline(PipelineOptions(model=model, decode=decode))
    recognizer = pipeline.recognizer
    kind = "pipe" if source.stdin is not None else ("url" if "://" in source.label else "file")
    return LiveSession(
        WhisperDecoder(recognizer, decode),
        options,
        source=Source(kind=kind, uri=source.label),  # type: ignore[arg-type]
    )


def _stream(
    session: LiveSession,
    source: StreamSource,
    view: LinesView | TerminalView,
    files: LiveFiles,
    max_duration: float | None,
) -> None:
    """Feed the session until the source ends, --max-duration, or the reader of stdout left.

    A source that arrives at the speed of speech has what came during the last decode fed
    at once (so a slow step never builds a backlog); a plain file is fed a chunk at a time,
    as if the decoder were infinitely fast."""
    limit = int(max_duration * SAMPLE_RATE) if max_duration else None
    with AudioStream(source) as stream:
        while not view.closed:
            try:
                samples, ended = _next(stream, paced=source.paced)
            except queue.Empty:
                continue
            reached = False
            if limit is not None:
                left = max(0, limit - round(session.fed_seconds * SAMPLE_RATE))
                samples, reached = samples[:left], samples.size >= left
            _show(session.feed(samples), view, files, session)
            if ended:
                stream.check()  # the source's own end: say if ffmpeg failed
            if ended or reached:
                return


def _next(stream: AudioStream, *, paced: bool) -> tuple[npt.NDArray[np.float32], bool]:
    """The audio to feed next (waiting up to half a second for some), and whether the source
    has ended: everything that came meanwhile from a paced source, one chunk from a file."""
    first = stream.read(timeout=0.5)
    if first is None:
        return np.zeros(0, np.float32), True
    if not paced:
        return first, False
    chunks, ended = stream.drain(CATCH_UP)
    return np.concatenate([first, *chunks]), ended


def _show(
    events: list[Event], view: LinesView | TerminalView, files: LiveFiles, session: LiveSession
) -> None:
    committed = not files.written  # the first audio: the files start out valid and empty
    for event in events:
        view.show(event)
        committed = committed or isinstance(event, Committed)
    if committed:
        files.update(session.transcript())


def _formats(spec: str | None) -> tuple[str, ...]:
    if not spec:
        return ()
    try:
        formats = parse_formats(spec)
    except TranscribeError as exc:
        raise typer.BadParameter(exc.message, param_hint="--format") from exc
    if "rttm" in formats:
        raise typer.BadParameter(
            "rttm needs speakers, which live does not label", param_hint="--format"
        )
    return formats


def _source(source: str | None, device_name: str | None, speed: float | None) -> StreamSource:
    if source is not None and device_name is not None:
        raise typer.BadParameter("give a SOURCE or --device-name, not both")
    if source == "-":
        return stdin_source(sys.stdin.buffer)
    if source is not None:
        if "://" not in source:  # refused before the model loads, in the batch's words
            checked(source)
        return file_source(source, speed=speed)
    return microphone(device_name)


def _list_devices() -> int:
    found = input_devices()
    if not found:
        log.error("no capture devices: ffmpeg lists none for pulse or alsa")
        return ExitCode.ENVIRONMENT
    for backend, name in found:
        typer.echo(printable(f"{backend}:{name}"))
    return ExitCode.OK


def _stem(source: str | None) -> str:
    if source is None or source == "-" or "://" in source:
        return "live"
    return Path(source).stem or "live"


def main(args: list[str]) -> None:
    """`transcribe live ARGS`: run from cli.app's main, with the error boundary above."""
    try:
        app(prog_name="transcribe live", args=args)
    except TranscribeError as exc:  # raised before the stream starts (no microphone, ffmpeg)
        setup_logging(quiet=False, verbose=False, debug=False)
        log.error("%s", exc)
        sys.exit(int(exc.exit_code))
