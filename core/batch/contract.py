"""The batch contract: every input gets an outcome, one failure never stops the rest.

The batch knows nothing of formats: the caller passes a `render` function that writes one
format of a Transcript to a text stream, so core stays independent of the writers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO

from ffscribe.core.batch.download import FetchOptions, remove_stale_scratch
from ffscribe.core.batch.inputs import PIPE, Input
from ffscribe.core.batch.locks import lock_for, remove_stale, try_lock
from ffscribe.core.batch.outputs import DEFAULT_TEMPLATE, atomic_writer, output_path
from ffscribe.core.batch.report import InputResult, Report
from ffscribe.core.data.errors import (
    Cancelled,
    EnvironmentMissing,
    OutputError,
    TranscribeError,
    UsageError,
    internal_error,
)
from ffscribe.core.data.transcript import Source, Transcript, is_transcript_json
from ffscribe.core.engine.checkpoint import Checkpoint

log = logging.getLogger("ffscribe.batch")
STOP_GRACE = 2.0  # seconds workers get to leave their input once the run is stopped

Render = Callable[[Transcript, str, TextIO], None]


@dataclass(frozen=True)
class OutputOptions:
    """Where and in which formats results go."""

    formats: tuple[str, ...] = ("json",)
    output_dir: Path | None = None  # None: beside a local input, else the current directory
    template: str = DEFAULT_TEMPLATE
    overwrite: bool = False
    stdout: bool = False  # write the (single) format to the stdout stream instead of files
    extensions: Mapping[str, str] = field(default_factory=dict)  # format -> file extension


class Running(Protocol):
    """A submitted input, as the batch waits for it."""

    def result(self, timeout: float | None = None) -> Transcript: ...

    def cancel(self) -> None: ...


class Submitter(Protocol):
    """What the batch needs from the engine: an input in, a job to wait for."""

    @property
    def workers(self) -> int: ...

    def submit(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: Callable[[float, float], None] | None = None,
        warn: Callable[[str], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> Running: ...


class BatchEvents(Protocol):
    """Hooks the CLI uses for progress and messages; core itself never prints. With several
    jobs they are called from worker threads, for several inputs at once."""

    def started(self, item: Input, index: int, total: int) -> None: ...

    def downloading(self, item: Input, done: float, total: float | None) -> None: ...

    def progress(self, item: Input, done: float, total: float) -> None: ...

    def finished(self, item: Input, result: InputResult) -> None: ...


def label(item: Input) -> str:
    """How messages and the report name an input: the path as given, else its URL."""
    return item.local or item.source.uri


def plan_outputs(item: Input, options: OutputOptions) -> dict[str, Path]:
    """The file each requested format of `item` goes to (empty when writing to stdout)."""
    if options.stdout:
        return {}
    out_dir = options.output_dir or item.directory or Path.cwd()
    name = Path(item.local).name if item.directory is not None and item.local else item.stem
    dests = {
        fmt: output_path(
            out_dir, item.stem, options.extensions.get(fmt, fmt), options.template, name=name
        )
        for fmt in options.formats
    }
    if len(set(dests.values())) < len(dests):
        raise UsageError(f"the formats {', '.join(dests)} would share one file: add {{ext}}")
    if item.local:  # re-rendering talk.json must never overwrite talk.json itself
        dests = {f: d for f, d in dests.items() if _not_same(d, Path(item.local))}
    return dests


@dataclass
class _Batch:
    """What every input of one run shares."""

    engine: Submitter
    render: Render
    options: OutputOptions
    events: BatchEvents | None
    stdout: TextIO | None
    total: int
    fetch: FetchOptions
    stop: threading.Event = field(default_factory=threading.Event)
    stdout_closed: bool = False  # its reader is gone: no input after this one starts
    running: list[Running] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        """Stop the run: every job submitted ends at its next segment."""
        self.stop.set()
        with self.lock:
            running = list(self.running)
        for job in running:
            job.cancel()


def run_batch(
    inputs: Sequence[Input],
    engine: Submitter,
    render: Render,
    options: OutputOptions,
    *,
    events: BatchEvents | None = None,
    stdout: TextIO | None = None,
    report: Report | None = None,
    fetch: FetchOptions | None = None,
) -> Report:
    """Run every input on the engine, as many at once as it has workers; EnvironmentMissing
    and UsageError stop the batch (every input would fail alike), any other error is recorded
    against its input and the batch goes on. The report lists inputs in the order given,
    whatever order they end in; pass `report` to keep what was done when the run stops early.
    `fetch` limits downloads."""
    batch = _Batch(engine, render, options, events, stdout, len(inputs), fetch or FetchOptions())
    report = report if report is not None else Report()
    claimed: dict[Path, str] = {}  # output -> the input that owns it in this run
    results: list[InputResult | None] = [None] * len(inputs)
    work: list[tuple[int, Input, dict[str, Path]]] = []
    folders: set[Path] = set()
    for index, item in enumerate(inputs):  # name-only decisions, in order, before any work
        try:
            dests = plan_outputs(item, options)
            early = _precheck(item, dests, options, claimed)
        except OSError as exc:  # a name the file system refuses fails its input, not the run
            dests = {}
            early = InputResult(label(item), "failed", f"bad output name: {exc.strerror or exc}")
        folders.update(d.parent for d in dests.values())
        if early is None:
            work.append((index, item, dests))
        else:
            results[index] = early
            _tell(batch, index, item, early)
    for folder in sorted(folders):  # locks a kill -9 left behind
        if remove_stale(folder):
            log.info("removed stale lock files in %s", folder)
    if remove_stale_scratch():  # and downloads
        log.info("removed temporary folders that killed runs left behind")
    try:
        _run_pool(batch, work, results, engine.workers if len(work) > 1 else 1)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        report.results = [r for r in results if r is not None]
        report.stdout_closed = batch.stdout_closed
    return report


def _local_size(item: Input) -> int:
    """Bytes of a local input file, as a cheap stand-in for its length; 0 when unknown."""
    if item.local is None or item.local == PIPE:
        return 0
    try:
        return os.stat(item.local).st_size
    except OSError:
        return 0


def _run_pool(
    batch: _Batch,
    work: list[tuple[int, Input, dict[str, Path]]],
    results: list[InputResult | None],
    jobs: int,
) -> None:
    """Every input on threads of its own (a lock, a download, the wait for its job on the
    engine, the writes) while the calling thread only waits, so a signal reaches it at once
    whatever they are doing; on a stop every job is cancelled, they get STOP_GRACE seconds to
    leave their input, and the caller goes on without the ones still inside a read.

    As many inputs are in flight as the engine has workers (the parts of a long one fill
    workers left idle); local files start largest first, so the longest input is not left
    to run alone at the end; results are still reported in the order given. --stdout runs
    them in order."""
    if jobs > 1 and not batch.options.stdout and len(work) > 1:
        order = sorted(work, key=lambda job: -_local_size(job[1]))
    else:
        jobs, order = 1, list(work)
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ffscribe-input")
    futures = {pool.submit(_locked_run, batch, *job): job[0] for job in order}
    try:
        for future in as_completed(futures):
            results[futures[future]] = future.result()
    except BaseException:
        batch.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        wait(futures, timeout=STOP_GRACE)
        raise
    pool.shutdown(wait=True)


def _tell(batch: _Batch, index: int, item: Input, result: InputResult) -> None:
    if batch.events:
        batch.events.started(item, index, batch.total)
        batch.events.finished(item, result)


def _precheck(
    item: Input, dests: dict[str, Path], options: OutputOptions, claimed: dict[Path, str]
) -> InputResult | None:
    """The outcomes known without touching the media: a resolve error, a clash, done before."""
    if item.error:
        return InputResult(label(item), "failed", item.error)
    clash = _claim(label(item), dests, claimed)
    if clash:
        return clash
    if options.stdout:
        return None
    if not dests:
        return InputResult(label(item), "skipped", "nothing to write (input is the only output)")
    if not options.overwrite and all(d.exists() for d in dests.values()):
        return InputResult(label(item), "skipped", "outputs exist", _names(dests))
    return None


def _locked_run(
    batch: _Batch, index: int, item: Input, dests: dict[str, Path]
) -> InputResult | None:
    if batch.stop.is_set():
        raise Cancelled
    if batch.stdout_closed:
        return None
    if batch.events:
        batch.events.started(item, index, batch.total)
    result = _under_lock(batch, item, dests)
    if batch.events:
        batch.events.finished(item, result)
    return result


def _under_lock(batch: _Batch, item: Input, dests: dict[str, Path]) -> InputResult:
    """Run one input under its output lock."""
    options = batch.options
    if options.stdout or not dests:
        return _run_one(batch, item, dests)
    try:
        with try_lock(lock_for(next(iter(dests.values())))) as held:
            if not held:
                return InputResult(label(item), "skipped", "another transcribe is working on it")
            if not options.overwrite and all(d.exists() for d in dests.values()):
                return InputResult(label(item), "skipped", "outputs exist", _names(dests))
            return _run_one(batch, item, dests)
    except OutputError as exc:  # no lock, no work: an unwritable folder fails before decoding
        return InputResult(label(item), "failed", str(exc))


def _run_one(batch: _Batch, item: Input, dests: dict[str, Path]) -> InputResult:
    started = time.perf_counter()
    name = label(item)
    options = batch.options
    notes: list[str] = []
    nodes: list[str] = []
    sidecar = Checkpoint(parts_path(next(iter(dests.values())))) if dests else None
    try:
        transcript = _transcript_for(batch, item, notes.append, sidecar, nodes.append)
        if batch.stop.is_set():
            raise Cancelled
        if options.stdout and not _to_stdout(batch, transcript):
            reason = "standard output closed by its reader"
            return InputResult(name, "done", reason, (), time.perf_counter() - started)
        for fmt, dest in dests.items():
            if dest.exists() and not options.overwrite:
                continue  # a format done by an earlier run: keep it
            with atomic_writer(dest) as fh:
                batch.render(transcript, fmt, fh)
        if sidecar is not None:
            sidecar.remove()  # every output is written: the finished parts are not needed
    except (EnvironmentMissing, UsageError):
        raise
    except TranscribeError as exc:
        reason = exc.message if exc.path in (None, name) else str(exc)  # name the output
        return InputResult(name, "failed", reason, (), time.perf_counter() - started)
    except Exception as exc:  # a bug, but the batch must go on: record it with its type
        log.debug("internal error on %s", name, exc_info=True)
        reason = internal_error(exc)
        return InputResult(name, "failed", reason, (), time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    return InputResult(
        name,
        "done",
        None,
        _names(dests),
        elapsed,
        transcript.duration,
        tuple(notes),
        nodes[0] if nodes else None,
    )


def _to_stdout(batch: _Batch, transcript: Transcript) -> bool:
    """Write the result to the stdout stream; False when its reader has closed it (`| head`),
    which stops the batch quietly: nothing after it starts, and it is no error."""
    assert batch.stdout is not None, "stdout mode needs a stream"
    try:
        for fmt in batch.options.formats:
            batch.render(transcript, fmt, batch.stdout)
        batch.stdout.flush()
    except BrokenPipeError:
        batch.stdout_closed = True
        return False
    return True


def _transcript_for(
    batch: _Batch,
    item: Input,
    warn: Callable[[str], None],
    sidecar: Checkpoint | None,
    where: Callable[[str], None],
) -> Transcript:
    """A saved JSON result is re-rendered as it is; anything else goes to the engine, remote
    inputs after a download into a temporary directory that is always removed. A long input
    keeps its finished parts in `sidecar` while it runs, for a run after a kill to resume;
    `where` hears the node that ran it, when the engine is a cluster's."""
    from ffscribe.core.batch.fetch import fetched

    if item.local and is_transcript_json(Path(item.local)):
        try:
            return Transcript.from_json(Path(item.local).read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError) as exc:
            raise TranscribeError(f"not a valid ffscribe JSON result: {exc}") from exc
    events = batch.events

    def downloading(done: float, total: float | None) -> None:
        if events:
            events.downloading(item, done, total)

    def progress(done: float, total: float) -> None:
        if events:
            events.progress(item, done, total)

    with fetched(item, progress=downloading, options=batch.fetch, stop=batch.stop) as path:
        job = batch.engine.submit(
            path, source=item.source, progress=progress, warn=warn, checkpoint=sidecar
        )
        with batch.lock:
            batch.running.append(job)
        if batch.stop.is_set():
            job.cancel()
        try:
            transcript = job.result()
            node = getattr(job, "node", None)  # a Ray job's; the local engine's jobs have none
            if node:
                where(node)
            return transcript
        finally:
            with batch.lock:
                batch.running.remove(job)


def parts_path(output: Path) -> Path:
    """Where an input's finished parts are kept while it runs: beside its first output."""
    return output.with_name(f".{output.stem}.ffscribe-parts.json")


def _claim(name: str, dests: dict[str, Path], claimed: dict[Path, str]) -> InputResult | None:
    """Refuse an input whose outputs another input of this run already writes (talk.mp3 and
    talk.wav in one directory), rather than let one silently replace the other."""
    for dest in dests.values():
        key = dest.resolve()
        if key in claimed and claimed[key] != name:
            return InputResult(
                name,
                "failed",
                f"its output {dest} is also the output of {claimed[key]}: "
                "use --template '{name}.{ext}' or another --output-dir",
            )
    claimed.update((d.resolve(), name) for d in dests.values())
    return None


def _names(dests: dict[str, Path]) -> tuple[str, ...]:
    return tuple(str(d) for d in dests.values())


def _not_same(dest: Path, src: Path) -> bool:
    try:
        return not (dest.exists() and dest.samefile(src))
    except OSError:
        return True
