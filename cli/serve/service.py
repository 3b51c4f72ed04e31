"""The service's hold on the engine: request options over the server's defaults, admission
(the queue limit), uploads in scratch folders removed whatever happens, and timeouts.

The HTTP routes are thin adapters over `Service.transcribe`; nothing here knows HTTP beyond
the ApiError it raises, so the OpenAI and PaddleX routes share one way of running a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TypeVar

from ffscribe.cli.serve.errors import ApiError, from_transcribe_error
from ffscribe.cli.to_core import (
    TEMPERATURE_INCREMENT,
    MusicArgs,
    SpeakerArgs,
    music_options,
    speaker_options,
    temperatures,
)
from ffscribe.core.batch.download import FetchOptions
from ffscribe.core.data.errors import Cancelled, TranscribeError
from ffscribe.core.data.transcript import Segment, Source, Transcript
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from ffscribe.core.engine.pool import Engine, Job

log = logging.getLogger("ffscribe.serve")
T = TypeVar("T")
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server; every one is a `transcribe serve` option."""

    max_upload: int = 512 << 20  # bytes of request body
    max_queue: int = 16  # requests waiting for a worker beyond those running
    max_duration: float = 4 * 3600.0  # seconds of media per request
    request_timeout: float = 3600.0  # seconds from admission to the result
    shutdown_grace: float = 30.0  # seconds SIGTERM waits for running requests
    fetch: FetchOptions = field(default_factory=FetchOptions)
    allowed_dirs: tuple[Path, ...] = ()  # server-side paths a PaddleX request may name
    batch_retention: float = 7 * 86400.0  # seconds a finished batch is kept; 0: for ever


@dataclass(frozen=True)
class Request:
    """What a request changes in the server's defaults (None: keep the default)."""

    task: str = "transcribe"
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False
    diarize: bool = False
    speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    detect_music: bool = False
    skip_music: bool = False


@dataclass(frozen=True)
class Given:
    """The server's command-line values for what a request may turn on (speakers, music),
    kept as given so a request's options follow the CLI's rules over them: a request's
    `diarize` uses the server's --diarizer, its `detect_music` the server's --music-threshold."""

    music: MusicArgs = field(default_factory=MusicArgs)
    speakers: SpeakerArgs = field(default_factory=SpeakerArgs)

    def over(self, request: Request) -> tuple[MusicArgs, SpeakerArgs]:
        """These values with the request's on top, as if given on the command line too."""
        music = replace(
            self.music,
            detect=self.music.detect or request.detect_music,
            skip=self.music.skip or request.skip_music,
        )
        speakers = replace(
            self.speakers,
            diarize=self.speakers.diarize or request.diarize,
            speakers=request.speakers or self.speakers.speakers,
            min_speakers=request.min_speakers or self.speakers.min_speakers,
            max_speakers=request.max_speakers or self.speakers.max_speakers,
        )
        return music, speakers


class Service:
    """One engine for every request; models load once, in `start`."""

    def __init__(
        self, pipeline: Pipeline, limits: Limits, *, served_name: str, given: Given
    ) -> None:
        """`given`: the values `pipeline`'s options were made from, for requests to add to."""
        self.pipeline = pipeline
        self.limits = limits
        self.served_name = served_name
        self.given = given
        self.ready = False
        self._engine: Engine | None = None
        self._active = 0
        self._lock = threading.Lock()
        self._waiters: ThreadPoolExecutor | None = None
        self._seconds = 0.0  # running mean of a request's time, for Retry-After
        self._done = 0

    def start(self) -> None:
        """Load every model the defaults need and start the workers."""
        from ffscribe.core.batch.download import remove_stale_scratch

        if remove_stale_scratch():  # uploads of a server that was killed -9
            log.info("removed the scratch folders of a server that was killed")
        self.pipeline.prepare()
        self._engine = Engine(self.pipeline)
        # One waiting thread per admitted request (admission bounds them), and one for the
        # batch file that runs beside them.
        self._waiters = ThreadPoolExecutor(self.capacity + 1, thread_name_prefix="ffscribe-wait")
        self.ready = True

    def stop(self) -> None:
        """Cancel what still runs (the grace period is over) and end the workers."""
        self.ready = False
        if self._engine is not None:
            self._engine.close(cancel=True, wait=True)
        if self._waiters is not None:
            self._waiters.shutdown(wait=False, cancel_futures=True)

    @property
    def workers(self) -> int:
        return self._engine.workers if self._engine is not None else self.pipeline.workers

    @property
    def capacity(self) -> int:
        """Requests admitted at once: those on a worker and those queued behind them."""
        return self.workers + self.limits.max_queue

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold a place in the queue for the block, or refuse with 429 when it is full."""
        with self._lock:
            if self._active >= self.capacity:
                raise ApiError(
                    429,
                    f"the queue is full ({self.capacity} requests); retry later",
                    type="rate_limit_error",
                    code="queue_full",
                    headers={"Retry-After": str(self._retry_after())},
                )
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _retry_after(self) -> int:
        """Seconds until a place is likely free: one request's mean time, at least 1."""
        return max(1, math.ceil(self._seconds)) if self._done else 5

    def options(self, request: Request) -> PipelineOptions:
        """The server's defaults with what the request changes, by the CLI's rules (cli/to_core)
        over the server's own command-line values; UsageError if it asks for what the loaded
        model cannot do or for speaker counts that contradict each other."""
        base = self.pipeline.options
        decode = replace(
            base.decode,
            task=request.task,  # type: ignore[arg-type]
            language=request.language or base.decode.language,
            initial_prompt=request.prompt or base.decode.initial_prompt,
            word_timestamps=base.decode.word_timestamps or request.word_timestamps,
        )
        if request.temperature is not None:  # as the CLI's --temperature, with its fallback
            decode = replace(
                decode, temperatures=temperatures(request.temperature, TEMPERATURE_INCREMENT)
            )
        music, speakers = self.given.over(request)
        opts = replace(
            base,
            decode=decode,
            music=music_options(music),
            skip_music=music.skip,
            diarize=speaker_options(speakers),
        )
        if base.clip.duration is None:  # a stream states no duration: cut it at the limit
            opts = replace(opts, clip=replace(base.clip, duration=self.limits.max_duration))
        return opts

    async def transcribe(
        self,
        path: str,
        options: PipelineOptions,
        *,
        source: Source | None = None,
        on_progress: Callable[[float, float], None] | None = None,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> Transcript:
        """Run one input on the engine and wait for it without holding the event loop;
        past the request timeout the job is cancelled and 504 answers."""
        if self._engine is None or self._waiters is None or not self.ready:
            raise ApiError(503, "the server is not ready", type="server_error", code="not_ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._waiters, self._check_duration, path)  # runs ffmpeg
        started = time.monotonic()
        job = self._engine.submit(
            path, source=source, options=options, progress=on_progress, segment=on_segment
        )
        try:
            result = await loop.run_in_executor(self._waiters, _wait, job, self.limits)
        finally:
            job.cancel()  # a no-op once it is done; stops it when the client went away
        self._record(time.monotonic() - started)
        return result

    def on_engine(self, work: Callable[[], T]) -> T:
        """Run model work that is not a whole input (a live session's decode step) on the
        engine's workers, and wait for it: call from a thread, never the event loop."""
        if self._engine is None or not self.ready:
            raise ApiError(503, "the server is not ready", type="server_error", code="not_ready")
        try:
            future = self._engine.call(work)
        except RuntimeError:  # closed: the server is stopping
            raise ApiError(503, "the server is shutting down", code="shutting_down") from None
        return future.result()

    def _check_duration(self, path: str) -> None:
        from ffscribe.core.media.ffmpeg import stated_duration

        seconds = stated_duration(path)
        if seconds is not None and seconds > self.limits.max_duration:
            raise ApiError(
                413,
                f"the media lasts {seconds:.0f}s; this server takes up to "
                f"{self.limits.max_duration:g}s a request",
                param="file",
                code="audio_too_long",
            )

    def _record(self, seconds: float) -> None:
        with self._lock:
            self._done += 1
            self._seconds += (seconds - self._seconds) / min(self._done, 20)


@contextlib.asynccontextmanager
async def upload_folder() -> AsyncIterator[str]:
    """A scratch folder for one request's media, removed on the way out whatever happens
    (and by the clean-up at exit should the request never get there)."""
    from ffscribe.core.batch.download import scratch

    with scratch() as folder:
        yield folder


def _wait(job: Job, limits: Limits) -> Transcript:
    """The job's Transcript, its failure as an ApiError (Cancelled is a KeyboardInterrupt,
    which must never reach the event loop)."""
    try:
        transcript = job.result(limits.request_timeout)
        log.debug("job %d finished: %d segments", job.seq, len(transcript.segments))
        return transcript
    except FutureTimeout:
        raise ApiError(
            504,
            f"the request took longer than {limits.request_timeout:g}s (--request-timeout)",
            code="timeout",
        ) from None
    except TranscribeError as exc:
        raise from_transcribe_error(exc) from None
    except Cancelled:
        raise ApiError(503, "the server is shutting down; retry", code="shutting_down") from None


def save_stream(source: IO[bytes], folder: str, filename: str | None) -> str:
    """Copy an uploaded body into `folder` under a safe name that keeps its extension
    (ffmpeg needs the hint for raw streams), in chunks: memory stays flat."""
    ext = os.path.splitext(os.path.basename(filename or ""))[1].lower()
    ext = ext if ext[1:].isalnum() and len(ext) <= 8 else ""
    path = os.path.join(folder, "upload" + ext)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, _COPY_CHUNK)
    return path


def fetch_media(url: str, folder: str, limits: Limits, *, param: str) -> str:
    """Download `url` into `folder` with the CLI's rules (http and https only, redirects
    too, --max-download, --download-deadline); ApiError when it is not media or fails."""
    from ffscribe.core.batch.download import download_to, is_fetched_scheme
    from ffscribe.core.media.extensions import MEDIA_EXTENSIONS

    def media(path: str) -> bool:
        return os.path.splitext(path)[1].lower() in MEDIA_EXTENSIONS

    if not is_fetched_scheme(url):
        raise ApiError(400, "only http and https URLs are fetched", param=param)
    try:
        path = download_to(url, folder, limits.fetch, media_path=media)
    except TranscribeError as exc:
        raise from_transcribe_error(exc, param=param) from None
    except OSError as exc:
        raise ApiError(400, f"the URL could not be fetched: {exc}", param=param) from None
    if path is None:
        raise ApiError(400, "the URL does not answer with audio or video", param=param)
    return path
