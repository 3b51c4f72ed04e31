"""What a stage is handed for one run: the run's context (progress, warnings, the stop flag,
where parts run and finished ones are kept), and the protocol for running parts. The stages
import this module, never the engine's pool, so their imports run one way."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ffscribe.core.data.errors import Cancelled
from ffscribe.core.engine import timeline

if TYPE_CHECKING:
    from ffscribe.core.data.transcript import Segment
    from ffscribe.core.engine.checkpoint import Checkpoint

T = TypeVar("T")
ProgressCallback = Callable[[float, float], None]  # (seconds done, seconds in all)
SegmentCallback = Callable[["Segment"], None]  # each segment once final, in transcript order


class PartRunner(Protocol):
    """Runs the parts of one input side by side: what the Recognizer needs from a pool."""

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]: ...

    def gather(self, futures: Sequence[Future[T]]) -> list[T]: ...


@dataclass(frozen=True)
class RunContext:
    """What one run of the pipeline takes from whoever runs it: where to report progress,
    the flag that cancels it, the pool for its parts, and where finished parts are kept."""

    progress: ProgressCallback | None = None
    warn: Callable[[str], None] | None = None  # what the user should be told (truncation)
    stop: threading.Event = field(default_factory=threading.Event)
    parts: PartRunner | None = None  # None: a pool of its own, for the duration of the run
    checkpoint: Checkpoint | None = None
    within: RunContext | None = None  # the run this one is a piece of (a part of an input)
    # Hears each recognized segment as soon as it is final, in order (a front end's stream);
    # a piece's context has none: the Recognizer orders what its pieces found.
    segment: SegmentCallback | None = None

    def check(self) -> None:
        """Raise Cancelled once this run, or the one it is a piece of, was stopped."""
        if self.within is not None:
            self.within.check()
        if self.stop.is_set():
            raise Cancelled

    def piece(self, progress: ProgressCallback | None) -> RunContext:
        """A context for a piece of this run (a part, a language's run): its own progress
        and stop flag, stopped too when this run is."""
        return RunContext(progress=progress, warn=self.warn, within=self)


class LocalParts:
    """A PartRunner of its own threads, for a pipeline run outside an engine (the Python API)."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="ffscribe-part")

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        return self._pool.submit(fn, *args)

    def gather(self, futures: Sequence[Future[T]]) -> list[T]:
        with timeline.span("wait parts"):
            return _results(futures)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _results(futures: Sequence[Future[T]]) -> list[T]:
    """Every result in order; the first failure is raised as soon as it happens, rather than
    the Cancelled of a piece it stopped."""
    done, _ = wait(futures, return_when=FIRST_EXCEPTION)
    failures = [f.exception() for f in done if f.exception() is not None]
    for failure in sorted(failures, key=lambda exc: isinstance(exc, Cancelled)):
        raise failure  # type: ignore[misc]
    return [f.result() for f in futures]
