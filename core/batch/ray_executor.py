"""The Ray executor: the batch's Submitter over a Ray cluster, one engine per actor.

The driver keeps the whole batch contract (inputs resolved, done ones skipped, per-input locks,
atomic outputs, the report); only a path, the source and the options travel to an actor, which
decodes the media itself and sends back the Transcript. Each actor holds an engine whose models
load once. An actor that dies (killed, out of memory, its node gone) loses only its current
input, which is tried again on another actor up to `retries` times, then reported failed.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ffscribe.core.data.errors import Cancelled, EnvironmentMissing, TranscribeError

if TYPE_CHECKING:
    from ffscribe.core.data.transcript import Source, Transcript
    from ffscribe.core.engine.checkpoint import Checkpoint
    from ffscribe.core.engine.pipeline import PipelineOptions
    from ffscribe.core.engine.pool import Job

log = logging.getLogger("ffscribe.ray")
INSTALL = "pip install 'ffscribe[ray]'"
POLL = 0.25  # seconds between looks at the stop flag while an actor works
# The driver's settings the actors need too (the ffmpeg to use, the model cache, offline mode).
_ENV_PREFIXES = ("FFSCRIBE_", "HF_")


@dataclass(frozen=True)
class RayOptions:
    """Where the actors run and how many there are."""

    address: str | None = None  # None: a local Ray instance, started and stopped by the run
    retries: int = 2  # more tries for an input whose actor died
    actors: int = 0  # 0: one per CPU of the cluster (per `gpus` share of its GPUs on a GPU)
    gpus: float = 0.0  # GPUs per actor, fractional to pack small models; 0: CPU actors
    temp_dir: str | None = None  # a local instance's session folder (sockets: keep it short)


def import_ray() -> ModuleType:
    """The ray module, or EnvironmentMissing naming the install command."""
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise EnvironmentMissing(f"--executor ray needs Ray: {INSTALL}") from exc


class _Worker:
    """The actor: an engine with its models loaded once, one input at a time (its parts on
    the same actor); `cancel` runs beside `run`, so the actor is made with two threads."""

    def __init__(self, options: PipelineOptions) -> None:
        from ffscribe.core.engine.pipeline import Pipeline
        from ffscribe.core.engine.pool import Engine

        pipeline = Pipeline(options)
        pipeline.prepare()  # a missing model fails here, before any input is handed out
        self._engine = Engine(pipeline, workers=1)
        self._job: Job | None = None

    def node(self) -> str:
        return socket.gethostname()

    def run(
        self, path: str, source: Source | None, sidecar: str | None
    ) -> tuple[Transcript, list[str], str]:
        """The Transcript of one input, the warnings it gave, and the node that made it."""
        from ffscribe.core.engine.checkpoint import Checkpoint

        notes: list[str] = []
        checkpoint = Checkpoint(Path(sidecar)) if sidecar else None
        job = self._engine.submit(path, source=source, warn=notes.append, checkpoint=checkpoint)
        self._job = job
        try:
            return job.result(), notes, socket.gethostname()
        finally:
            self._job = None

    def cancel(self) -> None:
        job = self._job
        if job is not None:
            job.cancel()

    def busy(self) -> str | None:
        """The path of the input being worked on, if any."""
        job = self._job
        return job.path if job is not None else None


def actor_options(options: PipelineOptions, ray_options: RayOptions) -> PipelineOptions:
    """The pipeline options of one actor: one model worker, one thread on a CPU (Ray gives
    each actor its own core), so the parallelism is the actors'."""
    model = replace(options.model, jobs=1, threads=1 if ray_options.gpus == 0 else 0)
    if ray_options.gpus and model.device == "auto":
        model = replace(model, device="cuda")
    return replace(options, model=model)


class RayExecutor:
    """A Submitter whose workers are Ray actors. Ray starts on first use (so a run that
    skips every input never starts it); use as a context manager, or call `close()`."""

    def __init__(self, options: PipelineOptions, ray_options: RayOptions | None = None) -> None:
        self.options = options
        self.ray_options = ray_options or RayOptions()
        self.actors: list[Any] = []  # the live actor handles, for tests and a stop
        self._idle: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._ray: ModuleType | None = None
        self._owns_ray = False
        self._remote: Any = None

    @property
    def workers(self) -> int:
        """How many inputs run at once: one per actor."""
        self._start()
        return len(self.actors)

    def submit(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: Callable[[float, float], None] | None = None,
        warn: Callable[[str], None] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> RayJob:
        """Queue one input; it waits for a free actor when its `result()` is asked for.
        `progress` is not called: the actors report only when an input is done."""
        self._start()
        sidecar = str(checkpoint.path) if checkpoint is not None else None
        return RayJob(self, path, source, warn, sidecar)

    def close(self, *, cancel: bool = False) -> None:
        """End the actors (and the local Ray instance this executor started)."""
        with self._lock:
            ray, actors, self.actors = self._ray, self.actors, []
        if ray is None:
            return
        if cancel:
            for actor in actors:
                actor.cancel.remote()
        for actor in actors:
            ray.kill(actor)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.close(cancel=kind is not None)

    def _start(self) -> None:
        with self._lock:
            if self._ray is not None:
                return
            ray = import_ray()
            if not ray.is_initialized():
                self._init(ray)
            self._ray = ray
            gpus = self.ray_options.gpus
            self._remote = ray.remote(_Worker).options(
                num_cpus=0 if gpus else 1,
                num_gpus=gpus,
                max_concurrency=2,
                max_restarts=0,
                runtime_env={"env_vars": _driver_env()},
            )
            self.actors = [self._new_actor() for _ in range(self._count(ray))]
        try:  # each actor loads its models now: a missing one is the run's error
            ray.get([actor.node.remote() for actor in self.actors])
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        for actor in self.actors:
            self._idle.put(actor)

    def _init(self, ray: ModuleType) -> None:
        # ray.init replaces the SIGTERM handler in the main thread; the CLI's own one (a clean
        # stop, exit 130) must stay, so it is put back.
        main = threading.current_thread() is threading.main_thread()
        handler = signal.getsignal(signal.SIGTERM) if main else None
        quiet = logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.ERROR
        address = self.ray_options.address
        if address:
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, log_to_driver=False, logging_level=quiet)
            else:
                ray.init(
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=quiet,
                    _temp_dir=self.ray_options.temp_dir,
                )
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
            where = f"join the Ray cluster at {address}" if address else "start Ray"
            raise EnvironmentMissing(f"cannot {where}: {_first(exc)}") from exc
        if main:
            signal.signal(signal.SIGTERM, handler)
        self._owns_ray = True

    def _count(self, ray: ModuleType) -> int:
        if self.ray_options.actors:
            return self.ray_options.actors
        resources = ray.cluster_resources()
        if self.ray_options.gpus:
            return max(1, int(resources.get("GPU", 0) / self.ray_options.gpus))
        return max(1, int(resources.get("CPU", 1)))

    def _new_actor(self) -> Any:
        return self._remote.remote(actor_options(self.options, self.ray_options))

    def take(self, stop: threading.Event) -> Any:
        """A free actor; raises Cancelled once `stop` is set."""
        while not stop.is_set():
            try:
                return self._idle.get(timeout=POLL)
            except queue.Empty:
                continue
        raise Cancelled

    def give(self, actor: Any) -> None:
        self._idle.put(actor)

    def replace(self, dead: Any) -> None:
        """A new actor in place of one that died, so the pool keeps its size."""
        with self._lock:
            if dead not in self.actors:
                return  # closed meanwhile
            self.actors.remove(dead)
            actor = self._new_actor()
            self.actors.append(actor)
        self._idle.put(actor)

    def wait(self, ref: Any, stop: threading.Event) -> Any:
        """The value of `ref`; raises Cancelled once `stop` is set."""
        assert self._ray is not None
        while not stop.is_set():
            ready, _ = self._ray.wait([ref], timeout=POLL)
            if ready:
                try:
                    return self._ray.get(ref)
                except self._ray.exceptions.RayTaskError as exc:
                    raise _cause(exc) from None
        raise Cancelled


class RayJob:
    """One input on the Ray executor: `result()` runs it on a free actor, and on another
    when that one dies, up to the executor's retries."""

    def __init__(
        self,
        executor: RayExecutor,
        path: str,
        source: Source | None,
        warn: Callable[[str], None] | None,
        sidecar: str | None,
    ) -> None:
        self._executor = executor
        self._args = (path, source, sidecar)
        self._warn = warn
        self._stop = threading.Event()
        self._actor: Any = None
        self.node: str | None = None  # where it ran, for the report
        self.attempts = 0

    def cancel(self) -> None:
        self._stop.set()
        actor = self._actor
        if actor is not None:
            actor.cancel.remote()

    def result(self, timeout: float | None = None) -> Transcript:
        """The Transcript; raises what the run raised, Cancelled when cancelled, and
        TranscribeError when every actor it was given died."""
        executor = self._executor
        ray = import_ray()
        while True:
            actor = executor.take(self._stop)
            self._actor, self.attempts = actor, self.attempts + 1
            try:
                done: tuple[Transcript, list[str], str]
                done = executor.wait(actor.run.remote(*self._args), self._stop)
            except _lost(ray) as exc:
                executor.replace(actor)
                if self.attempts > executor.ray_options.retries:
                    raise TranscribeError(
                        f"its Ray worker died on each of {self.attempts} tries: {_first(exc)}"
                    ) from None
                log.warning("a Ray worker died on %s; trying again", self._args[0])
                continue
            except Cancelled:
                raise  # the actor may still be leaving the input: not handed out again
            except BaseException:
                executor.give(actor)
                raise
            executor.give(actor)
            transcript, notes, self.node = done
            for note in notes:
                if self._warn is not None:
                    self._warn(note)
            return transcript


def _check_reachable(address: str) -> None:
    """Fail at once on a head nobody listens at: Ray itself retries for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise EnvironmentMissing(
            f"no Ray cluster answers at {address}: {exc.strerror or exc}"
            " (start one with `ray start --head`, or leave out --ray-address)"
        ) from exc


def _lost(ray: ModuleType) -> tuple[type[BaseException], ...]:
    """Ray's errors for an actor gone with its input (killed, out of memory, node lost)."""
    errors = ray.exceptions
    return (errors.RayActorError, errors.OutOfMemoryError, errors.NodeDiedError)


def _cause(exc: BaseException) -> BaseException:
    """What an actor raised, unwrapped from Ray's error, so the batch sees our own types."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _driver_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
