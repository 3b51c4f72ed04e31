"""Audio from ffmpeg as it is decoded: 16 kHz mono float32 chunks from a file, a pipe, a
stream URL or a capture device, read on a thread so the caller decodes while audio comes."""

from __future__ import annotations

import logging
import queue
import shlex
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, BinaryIO

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.errors import EnvironmentMissing, MediaError, TranscribeError
from ffscribe.core.engine import cleanup
from ffscribe.core.media.ffmpeg import FFMPEG_FIX, SAMPLE_RATE, find_ffmpeg, last_error_line

logger = logging.getLogger("ffscribe.stream")

CHUNK_SECONDS = 0.1  # how much audio a read hands over: the finest a caller can pace
_BYTES = int(SAMPLE_RATE * CHUNK_SECONDS) * 4  # float32


@dataclass(frozen=True)
class StreamSource:
    """What ffmpeg reads: `input_args` before and including its `-i`; `stdin` when '-'."""

    label: str
    input_args: tuple[str, ...]
    stdin: BinaryIO | None = None
    error: type[TranscribeError] = MediaError  # a capture device failing is the machine's lack
    paced: bool = False  # arrives at the speed of speech (a device, a stream, --realtime)
    failure: str = "ffmpeg failed"  # what a failure is called, before ffmpeg's own words


def file_source(path: str, *, speed: float | None = None) -> StreamSource:
    """A file or URL; `speed` paces the read at that many times real time (1: as spoken)."""
    pace = ("-readrate", f"{speed:g}") if speed else ()
    return StreamSource(path, (*pace, "-i", path), paced=bool(speed) or "://" in path)


def stdin_source(stdin: BinaryIO) -> StreamSource:
    """Any container ffmpeg reads as a stream, on standard input."""
    return StreamSource("-", ("-i", "pipe:0"), stdin=stdin, paced=True)


def device_source(backend: str, name: str) -> StreamSource:
    """A capture device of one of ffmpeg's input devices (pulse, alsa)."""
    label = f"{backend}:{name}"
    return StreamSource(
        label,
        ("-f", backend, "-i", name),
        error=EnvironmentMissing,
        paced=True,
        failure="no microphone: ffmpeg cannot capture from this device (give a file, a URL "
        "or '-', or a device from --list-devices)",
    )


class AudioStream:
    """A running ffmpeg decoding `source`; `read` gives its chunks in order, None at the end.

    A context manager: leaving it stops ffmpeg (a stop, Ctrl-C) and joins the readers."""

    def __init__(self, source: StreamSource) -> None:
        self.source = source
        self.chunks: queue.Queue[npt.NDArray[np.float32] | None] = queue.Queue()
        self._stderr: list[bytes] = []
        argv = [find_ffmpeg(), "-hide_banner", "-nostats", "-loglevel", "error"]
        argv += [*source.input_args, "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE)]
        argv += ["-f", "f32le", "pipe:1"]
        logger.debug("running %s", shlex.join(argv))
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=source.stdin if source.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise EnvironmentMissing(
                f"cannot run {argv[0]} ({exc.strerror}): {FFMPEG_FIX}"
            ) from exc
        self._undo = cleanup.pending(self._kill)
        self._undo.__enter__()
        self._threads = [
            threading.Thread(target=self._pump, name="ffscribe-stream", daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def read(self, timeout: float | None = None) -> npt.NDArray[np.float32] | None:
        """The next chunk (blocking); None once ffmpeg has ended. Raises queue.Empty on timeout."""
        return self.chunks.get(timeout=timeout)

    def drain(self, limit: int) -> tuple[list[npt.NDArray[np.float32]], bool]:
        """Every chunk already read, up to `limit` samples, without waiting; and whether the
        end came among them."""
        out: list[npt.NDArray[np.float32]] = []
        size = 0
        while size < limit:
            try:
                chunk = self.chunks.get_nowait()
            except queue.Empty:
                break
            if chunk is None:
                return out, True
            out.append(chunk)
            size += chunk.size
        return out, False

    def check(self) -> None:
        """After the end: raise the source's error if ffmpeg failed."""
        code = self._proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        if code != 0:
            stderr = b"".join(self._stderr).decode("utf-8", "replace")
            cause = last_error_line(stderr, self.source.label) or f"exit status {code}"
            raise self.source.error(
                f"{self.source.failure}: {cause}", path=self.source.label, stage="live"
            )

    def close(self) -> None:
        self._kill()
        for thread in self._threads:
            thread.join(timeout=5)
        self._undo.__exit__(None, None, None)

    def __enter__(self) -> AudioStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def _pump(self) -> None:
        out = self._proc.stdout
        assert out is not None
        left = b""
        try:
            while data := out.read1(_BYTES) if hasattr(out, "read1") else out.read(_BYTES):
                data = left + data
                cut = len(data) - len(data) % 4
                left = data[cut:]
                if cut:
                    self.chunks.put(np.frombuffer(data[:cut], dtype=np.float32).copy())
        except (OSError, ValueError):  # closed under us by a stop
            pass
        finally:
            self.chunks.put(None)

    def _drain_stderr(self) -> None:
        err: IO[bytes] | None = self._proc.stderr
        if err is not None:
            self._stderr.append(err.read())


def microphone(device_name: str | None = None) -> StreamSource:
    """A capture device: `BACKEND:NAME` as --list-devices prints it, else NAME (or "default")
    on the first of pulse and alsa this ffmpeg has; EnvironmentMissing when it has neither."""
    if device_name and ":" in device_name:
        named, _, name = device_name.partition(":")
        return device_source(named, name)
    backend = next((b for b in ("pulse", "alsa") if b in _input_formats()), None)
    if backend is None:
        raise EnvironmentMissing(
            "no microphone: this ffmpeg has no pulse or alsa capture; give a file, a URL or "
            "'-' (arecord -f S16_LE -r 16000 | transcribe live -)"
        )
    return device_source(backend, device_name or "default")


def _input_formats() -> set[str]:
    """The input devices this ffmpeg was built with (`ffmpeg -devices`, the D column)."""
    listed = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-devices"], capture_output=True, text=True, check=False
    ).stdout
    rows = [line.split() for line in listed.splitlines()]
    return {row[1] for row in rows if len(row) > 1 and row[0].startswith("D")}


def input_devices(backends: Sequence[str] = ("pulse", "alsa")) -> list[tuple[str, str]]:
    """The capture devices ffmpeg lists for each backend: (backend, device name) pairs."""
    found: list[tuple[str, str]] = []
    for backend in backends:
        try:
            done = subprocess.run(
                [find_ffmpeg(), "-hide_banner", "-sources", backend],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.debug("ffmpeg -sources %s: %s", backend, exc)
            continue
        found += [(backend, name) for name in _listed(done.stdout)]
    return found


def _listed(text: str) -> list[str]:
    """Device names in `ffmpeg -sources` output: the lines under its header that begin with
    '*' (the default) or spaces, each a name and a description in brackets."""
    names = []
    for line in text.splitlines():
        if line[:1] in ("*", " ") and line.strip("* "):
            names.append(line.strip("* ").split(" [", 1)[0].strip())
    return names
