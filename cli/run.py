"""Running a batch for the CLI: resolve inputs, report progress, map the outcome to an exit
status, and turn SIGTERM into the same clean stop as Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn, TextIO

import typer

from ffscribe.cli.progress import Reporter, printable
from ffscribe.core.batch.contract import OutputOptions, Submitter, label, plan_outputs, run_batch
from ffscribe.core.batch.download import FetchOptions
from ffscribe.core.batch.inputs import Input, resolve
from ffscribe.core.batch.outputs import atomic_write_text, check_writable
from ffscribe.core.batch.ray_executor import RayExecutor, RayOptions
from ffscribe.core.batch.report import Report
from ffscribe.core.data.errors import ExitCode, TranscribeError, internal_error
from ffscribe.core.data.transcript import Transcript
from ffscribe.core.engine import cleanup
from ffscribe.core.engine.pipeline import Pipeline
from ffscribe.core.engine.pool import Engine
from ffscribe.formats import WriterOptions, write


@dataclass(frozen=True)
class InputOptions:
    """How the command-line arguments become inputs."""

    null: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    limit: int | None = None
    fetch: FetchOptions = field(default_factory=FetchOptions)


Executor = Callable[[], AbstractContextManager[Submitter]]
EXECUTORS = ("local", "ray")


def submitter_for(name: str, pipeline: Pipeline, ray_options: RayOptions) -> Executor:
    """What runs the inputs: this machine's engine, or Ray actors (each with an engine)."""
    if name == "ray":
        return lambda: RayExecutor(pipeline.options, ray_options)
    return lambda: Engine(pipeline)


def gather(args: Sequence[str], options: InputOptions) -> list[Input]:
    """Resolve the arguments (files, directories, globs, `-`, `pipe:`, URLs, feeds)."""
    return resolve(
        args,
        stdin=sys.stdin if "-" in args else None,
        null=options.null,
        include=options.include,
        exclude=options.exclude,
        limit=options.limit,
        fetch=options.fetch,
    )


def execute(
    pipeline: Pipeline,
    inputs: Callable[[], list[Input]],
    outputs: OutputOptions,
    writer_options: WriterOptions,
    report_path: Path | None,
    *,
    reporter: Reporter,
    fetch: FetchOptions | None = None,
    submitter: Executor | None = None,
) -> ExitCode:
    """The error boundary: expected errors become one line and their exit code. Signals stop
    the run from the start, while a feed is still being read too; `inputs` resolves them;
    `submitter` makes what runs them (default: the engine on this machine)."""

    def render(transcript: Transcript, fmt: str, stream: TextIO) -> None:
        write(transcript, fmt, stream, writer_options)

    report = Report()
    with _signals_stop() as stop:
        try:
            if report_path is not None:
                check_writable(report_path)  # known before any work, not after it
            items = inputs()
            if not items:
                reporter.info("no inputs: no media files among the arguments")
            make = submitter or (lambda: Engine(pipeline))
            with reporter, make() as engine:
                report = run_batch(
                    items,
                    engine,
                    render,
                    outputs,
                    events=reporter,
                    stdout=sys.stdout,
                    report=report,
                    fetch=fetch,
                )
        except TranscribeError as exc:
            report.error, report.error_code = str(exc), exc.exit_code
            reporter.error(str(exc))
        except Exception as exc:  # a bug: one line, the traceback only with --debug
            logging.getLogger("ffscribe").debug("internal error", exc_info=True)
            report.error, report.error_code = internal_error(exc), ExitCode.FAILED
            reporter.error(report.error)
        except KeyboardInterrupt:
            stop.stopping = True  # a second signal must not cut the clean-up short
            cleanup.undo_all()  # workers still inside a read or the model may never get to it
            report.interrupted = True
            reporter.error("interrupted: finished outputs kept, the current input left nothing")
        stop.stopping = True
        return _finish(report, report_path, reporter)


def _finish(report: Report, report_path: Path | None, reporter: Reporter) -> ExitCode:
    """Write the report, say how the run went, and return its exit status."""
    if report.stdout_closed:  # flushing it again at exit would raise BrokenPipeError
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if report_path is not None:
        text = json.dumps(report.to_dict(), ensure_ascii=False, indent=2)
        try:
            atomic_write_text(report_path, text + "\n")
        except TranscribeError as exc:
            reporter.error(f"the report was not written: {exc}")
            return max(report.exit_code, ExitCode.FAILED)
    if report.error is None:
        reporter.info(report.summary())
    return report.exit_code


def stragglers() -> bool:
    """Whether a worker thread is still running (stuck in a read or the model past a stop)."""
    main = threading.main_thread()
    return any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate())


def flush_and_exit(code: int) -> NoReturn:
    """Exit at once, without waiting for threads, once what was printed is out."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def print_plan(pipeline: Pipeline, items: list[Input], outputs: OutputOptions) -> None:
    """--dry-run: the stages, then each input and the files it would write."""
    for stage in pipeline.plan():
        typer.echo(printable(f"stage {stage.name}: {stage.detail}"))
    for item in items:
        if item.error:
            typer.echo(printable(f"{label(item)} -> error: {item.error}"))
            continue
        dests = plan_outputs(item, outputs)
        targets = ", ".join(str(d) for d in dests.values()) if dests else "standard output"
        typer.echo(printable(f"{label(item)} -> {targets}"))


def setup_logging(*, quiet: bool, verbose: bool, debug: bool) -> None:
    if debug:
        level = logging.DEBUG
    elif verbose:
        level = logging.INFO
    else:
        level = logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("transcribe: %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if not debug:  # faster-whisper logs every VAD pass at INFO; keep that for --debug
        logging.getLogger("faster_whisper").setLevel(max(level, logging.WARNING))


class _OneLine(logging.Formatter):
    """Log messages carry names from strangers (titles, URLs, paths): escape them like
    Reporter does; a traceback under --debug stays as it is. An error reads as the batch's
    own do (`transcribe: error: INPUT: cause`), not with the logger's name."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        if record.levelno >= logging.ERROR:
            return f"transcribe: error: {record.message}"
        return super().formatMessage(record)


class _Stop:
    """The signal handler: the first SIGINT or SIGTERM stops the run like Ctrl-C; once the
    stop is under way (or the run is over) later ones are ignored, so nothing cuts short
    the clean-up and the report."""

    def __init__(self) -> None:
        self.stopping = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.stopping:
            self.stopping = True
            raise KeyboardInterrupt


@contextmanager
def _signals_stop() -> Iterator[_Stop]:
    """SIGINT and SIGTERM (cron's timeout, systemd, kill) stop the run alike: exit 130."""
    stop = _Stop()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
