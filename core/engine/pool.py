"""The engine: one pool of model workers that every front end submits its inputs to.

A front end (the batch CLI; later the HTTP service, live transcription, a Ray actor) calls
`Engine.submit` and gets a `Job`: progress through its callback, the Transcript from
`result()`, and `cancel()`. The engine owns the workers (N one-thread workers on a CPU, two on
a GPU, resolved once, by the Recognizer, from the options) and a queue of decode units: whole
inputs, and the parts of a long input cut at pauses, which go ahead of inputs not yet started.
A worker that cut an input runs that input's parts too while it waits for them, so an input
never waits for a worker its own parts hold, whatever else is queued.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ffscribe.core.engine import timeline
from ffscribe.core.engine.context import (
    ProgressCallback,
    RunContext,
    SegmentCallback,
    T,
    _results,
)

if TYPE_CHECKING:
    from ffscribe.core.data.transcript import Source, Transcript
    from ffscribe.core.engine.checkpoint import Checkpoint
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions

log = logging.getLogger("ffscribe.engine")


class _Task:
    """One unit of work that runs once, on whichever thread claims it first."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()
        self._claimed = threading.Lock()

    def run(self) -> None:
        if not self._claimed.acquire(blocking=False):
            return  # claimed by the thread that waits for it, or by another worker
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            self.future.set_result(self.fn())
        except BaseException as exc:  # handed to whoever waits, Ctrl-C and cancels included
            self.future.set_exception(exc)


class _JobParts:
    """A job's PartRunner on the engine: parts are queued ahead of inputs not started, and
    the worker that waits for them runs those not yet claimed itself."""

    def __init__(self, engine: Engine, job: Job) -> None:
        self._engine = engine
        self._job = job
        self._tasks: list[_Task] = []
        self._index = itertools.count()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        task = _Task(lambda: fn(*args))
        with self._lock:
            self._tasks.append(task)
        self._engine._put((0, self._job.seq, next(self._index)), task.run)
        return task.future

    def gather(self, futures: Sequence[Future[T]]) -> list[T]:
        for task in list(self._tasks):  # in submission order: the first part first
            if any(f.done() and f.exception() is not None for f in futures):
                break
            task.run()
        with timeline.span("wait parts"):
            return _results(futures)


class Job:
    """One submitted input: its progress, its result, and a way to cancel it."""

    def __init__(
        self,
        engine: Engine,
        seq: int,
        path: str,
        source: Source | None,
        progress: ProgressCallback | None,
        warn: Callable[[str], None] | None,
        checkpoint: Checkpoint | None,
        options: PipelineOptions | None = None,
        segment: SegmentCallback | None = None,
    ) -> None:
        self.engine = engine
        self.options = options
        self.seq = seq
        self.path = path
        self.stop = threading.Event()
        self._future: Future[Transcript] = Future()
        self._context = RunContext(
            progress, warn, self.stop, _JobParts(engine, self), checkpoint, segment=segment
        )
        self._source = source

    def cancel(self) -> None:
        """Stop the job: not started, it never starts; running, it ends at its next
        segment and `result()` raises Cancelled."""
        self.stop.set()

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Transcript:
        """The Transcript; raises what the run raised (Cancelled when cancelled)."""
        return self._future.result(timeout)

    def _run(self) -> None:
        if not self._future.set_running_or_notify_cancel():
            return
        try:
            self._context.check()
            transcript = self.engine.pipeline.run(
                self.path, source=self._source, context=self._context, options=self.options
            )
            self._future.set_result(transcript)
        except BaseException as exc:
            self._future.set_exception(exc)


_STOP = (2, 0, 0)  # after every unit of work


@dataclass(order=True)
class _Unit:
    key: tuple[int, int, int]  # (0 part or call / 1 input / 2 stop, job number, part number)
    run: Callable[[], None] = field(compare=False)


class Engine:
    """The model workers, shared by every input submitted. Use as a context manager, or call
    `close()`: the workers are threads, started on the first submit."""

    def __init__(self, pipeline: Pipeline, *, workers: int | None = None) -> None:
        self.pipeline = pipeline
        self._workers = workers
        self._queue: queue.PriorityQueue[_Unit] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def workers(self) -> int:
        """How many inputs or parts run at once: resolved once, on first use (so a run that
        skips every input never looks for a GPU)."""
        if self._workers is None:
            self._workers = self.pipeline.workers
        return self._workers

    def submit(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: ProgressCallback | None = None,
        warn: Callable[[str], None] | None = None,
        checkpoint: Checkpoint | None = None,
        options: PipelineOptions | None = None,
        segment: SegmentCallback | None = None,
    ) -> Job:
        """Queue one input (a local path, or "pipe:") behind those submitted before it.
        `options` replaces the pipeline's own for this input (a request's language, format
        needs, speakers), with the same model, so the models stay loaded. `segment` hears
        each recognized segment as it is final, in order, on a worker thread."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is closed")
            seq = next(self._seq)
            job = Job(self, seq, path, source, progress, warn, checkpoint, options, segment)
            self._jobs = [j for j in self._jobs if not j.done()] + [job]
            self._start_workers()
        self._put((1, job.seq, 0), job._run)
        return job

    def call(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn` (model work that is not a whole input: a live session's decode step) on
        the next free worker, ahead of inputs not started, so the workers bound all model
        work at once and a live step never waits for a whole file."""
        task = _Task(fn)
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._start_workers()
            self._put((0, next(self._seq), 0), task.run)
        return task.future

    def run(self, paths: Iterable[str]) -> list[Transcript]:
        """Every path's Transcript, in order (a convenience over submit)."""
        jobs = [self.submit(p) for p in paths]
        return [j.result() for j in jobs]

    def cancel_all(self) -> None:
        """Cancel every job not finished."""
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()

    def close(self, *, cancel: bool = False, wait: bool = True) -> None:
        """Let the workers finish what is queued (or cancel it) and end them; `wait=False`
        returns at once (a stop: a worker inside a model call leaves at its next segment)."""
        if cancel:
            self.cancel_all()
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._put(_STOP, lambda: None)
        for thread in threads if wait else ():
            thread.join()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        failed = kind is not None  # an error or a stop: nothing queued is wanted any more
        self.close(cancel=failed, wait=not failed)

    def _put(self, key: tuple[int, int, int], run: Callable[[], None]) -> None:
        self._queue.put(_Unit(key, run))

    def _start_workers(self) -> None:
        while len(self._threads) < self.workers:
            # Not daemons: a worker still inside a model call at exit is waited for, or the
            # front end exits at once (cli: stragglers) rather than crash at finalization.
            thread = threading.Thread(
                target=self._work, name=f"ffscribe-worker-{len(self._threads)}"
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        while True:
            unit = self._queue.get()
            if unit.key == _STOP:
                return
            unit.run()
