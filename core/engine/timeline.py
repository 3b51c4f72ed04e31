"""Where a run's time goes, thread by thread: named spans of wall and thread CPU time,
recorded only when the FFSCRIBE_TIMELINE environment variable names a file to append them
to (bench/timeline.py reads it); unset, `span` hands back one shared no-op context."""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

ENV = "FFSCRIBE_TIMELINE"
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_END = object()

_path = os.environ.get(ENV) or None
_off: AbstractContextManager[None] = nullcontext()
_spans: list[dict[str, Any]] = []
_lock = threading.Lock()


def enabled() -> bool:
    return _path is not None


def span(name: str) -> AbstractContextManager[None]:
    """Record the time spent inside the `with` block as `name` on this thread (when on)."""
    return _off if _path is None else _recording(name)


def wrap(name: str, fn: F) -> F:
    """`fn`, each call recorded as a span `name` when on; `fn` itself when off."""
    if _path is None:
        return fn

    def recorded(*args: Any, **kwargs: Any) -> Any:
        with _recording(name):
            return fn(*args, **kwargs)

    return recorded  # type: ignore[return-value]


def iterate(name: str, items: Iterable[T]) -> Iterator[T]:
    """`items`, the time each one takes to come (a lazy decode's work) recorded as `name`."""
    if _path is None:
        return iter(items)
    return _iterated(name, iter(items))


def _iterated(name: str, items: Iterator[T]) -> Iterator[T]:
    while True:
        with _recording(name):
            item = next(items, _END)
        if item is _END:
            return
        yield item  # type: ignore[misc]


def instrument(model: Any) -> None:
    """Record a faster-whisper model's features, encoder passes and window decodes (when
    on): the inner spans that say what a part's decode spent its time on."""
    if _path is None:
        return
    model.encode = wrap("encode", model.encode)
    model.generate_with_fallback = wrap("decode window", model.generate_with_fallback)
    model.detect_language = wrap("language", model.detect_language)
    extractor = model.feature_extractor
    model.feature_extractor = _Recorded(extractor)


class _Recorded:
    """A feature extractor whose calls are recorded as "features"; everything else its own."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _recording("features"):
            return self._inner(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def _recording(name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        record = {
            "thread": threading.current_thread().name,
            "name": name,
            "start": wall,
            "end": time.perf_counter(),
            "cpu": time.thread_time() - cpu,
        }
        with _lock:
            _spans.append(record)


def flush() -> None:
    """Append what was recorded to the file now: for a process that leaves by os._exit
    (a server whose idle threads are not waited for), where atexit never runs."""
    _write()


def _write() -> None:
    if _path is None or not _spans:
        return
    with _lock, open(_path, "a", encoding="utf-8") as out:
        for record in [*_spans, *_thread_cpu()]:
            out.write(json.dumps(record) + "\n")
        _spans.clear()


def _thread_cpu() -> list[dict[str, Any]]:
    """Each OS thread's CPU seconds so far (Linux): CTranslate2 computes on threads of its
    own, whose time no Python thread's clock counts."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found = []
    for task in Path("/proc/self/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        found.append({"os_thread": f"{name} {task.name}", "cpu_total": cpu})
    return found


if _path is not None:
    atexit.register(_write)
