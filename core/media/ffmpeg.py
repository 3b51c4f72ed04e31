"""The ffmpeg stage: find ffmpeg, probe an input, and decode its audio to 16 kHz mono float32."""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, BinaryIO

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.errors import (
    EnvironmentMissing,
    InputError,
    MediaError,
    TranscribeError,
    UsageError,
)
from ffscribe.core.data.options import ClipOptions
from ffscribe.core.engine import cleanup

logger = logging.getLogger("ffscribe.media")

SAMPLE_RATE = 16000
PIPE = "pipe:"  # the input name that means "media bytes on standard input"

FFMPEG_FIX = (
    "install ffmpeg (apt-get install ffmpeg) or `pip install imageio-ffmpeg`,"
    " or set FFSCRIBE_FFMPEG"
)
WHOLE = ClipOptions()  # decode all of the default audio track, as it is
_PREROLL = 2.0  # seconds decoded and dropped before a clip's start: a codec's warm-up frames
_CHUNK = 1 << 20


@dataclass(frozen=True)
class AudioStream:
    """One audio stream as ffmpeg describes it; `index` counts audio streams only, from 0."""

    index: int
    codec: str
    channels: int | None
    sample_rate: int | None
    language: str | None


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` learned about an input without decoding it."""

    path: str
    duration: float | None  # seconds; None where the container does not say
    audio: tuple[AudioStream, ...]
    has_video: bool  # a real picture stream, not an embedded cover image

    @property
    def audio_streams(self) -> int:
        return len(self.audio)


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: mono float32 samples in [-1, 1] and where they sit on the source timeline."""

    samples: npt.NDArray[np.float32]
    offset: float  # seconds on the source timeline at samples[0]: the clip start
    source_duration: float | None  # the whole input's duration; None when unknown (pipe:)
    path: str
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@functools.cache
def find_ffmpeg() -> str:
    """Return the ffmpeg to run: $FFSCRIBE_FFMPEG, else `ffmpeg` on PATH, else imageio-ffmpeg's.

    Cached for the process; `find_ffmpeg.cache_clear()` forgets the answer.
    """
    override = os.environ.get("FFSCRIBE_FFMPEG")
    if override:
        found = shutil.which(override)
        if found is None:
            raise EnvironmentMissing(
                f"FFSCRIBE_FFMPEG={override!r} is not an executable ffmpeg; "
                "point it at one or unset it"
            )
        return found
    found = shutil.which("ffmpeg")
    if found is not None:
        return found
    try:
        import imageio_ffmpeg  # a pip-installable ffmpeg; imported only when PATH has none

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        logger.debug("imageio-ffmpeg offers no ffmpeg: %s", exc)
    raise EnvironmentMissing(f"ffmpeg was not found: {FFMPEG_FIX}")


@dataclass(frozen=True)
class _Completed:
    returncode: int
    stdout: bytearray
    stderr: str


def _call(args: Sequence[str], stdin: BinaryIO | None) -> _Completed:
    """Run ffmpeg with `args`, collecting stdout in one growing buffer and stderr on a thread."""
    argv = [find_ffmpeg(), *args]
    logger.debug("running %s", shlex.join(argv))
    feed: BinaryIO | int = subprocess.DEVNULL
    if stdin is not None:  # a real file or pipe goes straight to ffmpeg; anything else, by thread
        feed = stdin if _has_fileno(stdin) else subprocess.PIPE
    try:
        proc = subprocess.Popen(
            argv,
            stdin=feed,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise EnvironmentMissing(f"cannot run {argv[0]} ({exc.strerror}): {FFMPEG_FIX}") from exc
    assert proc.stdout is not None and proc.stderr is not None
    err: list[bytes] = []
    threads = [threading.Thread(target=lambda: err.append(_read_all(proc.stderr)), daemon=True)]
    if stdin is not None and feed == subprocess.PIPE:
        threads.append(threading.Thread(target=_copy, args=(stdin, proc.stdin), daemon=True))
    try:
        with cleanup.pending(proc.kill):  # a stop that cannot wait for this thread ends it
            for thread in threads:
                thread.start()
            out = bytearray()
            while chunk := proc.stdout.read(_CHUNK):
                out += chunk  # amortized growth: no list of chunks joined at the end
            returncode = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: do not leave ffmpeg running
            proc.kill()
            proc.wait()
    for thread in threads:
        thread.join()
    return _Completed(returncode, out, b"".join(err).decode("utf-8", "replace"))


def _has_fileno(stream: BinaryIO) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    return True


def _read_all(stream: IO[bytes] | None) -> bytes:
    return stream.read() if stream is not None else b""


def _copy(source: BinaryIO, sink: IO[bytes] | None) -> None:
    """Feed ffmpeg's stdin from a file-like object that has no descriptor (e.g. io.BytesIO)."""
    assert sink is not None
    # A broken pipe means ffmpeg stopped reading (the clip ended, or it failed): not our error.
    with contextlib.suppress(BrokenPipeError):
        try:
            while chunk := source.read(_CHUNK):
                sink.write(chunk)
        finally:
            sink.close()


def run_ffmpeg(
    args: Sequence[str],
    *,
    path: str,
    stage: str,
    stdin: BinaryIO | None = None,
    error: type[TranscribeError] = MediaError,
) -> bytearray:
    """Run ffmpeg (never through a shell) and return its stdout.

    `args` follow the executable. A non-zero exit raises `error` carrying `path`, `stage` and
    ffmpeg's last meaningful stderr line. Output goes to a pipe, so nothing partial is left behind.
    """
    done = _call(args, stdin)
    if done.returncode != 0:
        cause = last_error_line(done.stderr, path) or f"exit status {done.returncode}"
        raise error(f"ffmpeg failed: {cause}", path=path, stage=stage)
    return done.stdout


_NOISE = ("Conversion failed!", "At least one output file must be specified")
_ADDRESS = re.compile(r"^\[(\w[\w,]*) @ 0x[0-9a-f]+\] ")


def last_error_line(stderr: str, path: str | None = None) -> str:
    """The last stderr line that says something, without ffmpeg's pointer or our own path."""
    for raw in reversed(stderr.splitlines()):
        line = _ADDRESS.sub(r"[\1] ", raw.strip())
        for name in (f"file:{path}: ", f"{path}: ") if path else ():
            line = line.removeprefix(name)
        if line and not line.startswith(_NOISE):
            return line
    return ""


_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", re.MULTILINE)
_STREAM = re.compile(
    r"^\s*Stream #0:\d+(?:\[\w+\])?(?:\((\w+)\))?: (Audio|Video|Subtitle|Data|Attachment): (.*)$",
    re.MULTILINE,
)
_LAYOUTS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}


def probe(path: str) -> MediaInfo:
    """Describe a local input with one `ffmpeg -i PATH` call, parsing what ffmpeg prints.

    Works with any ffmpeg (imageio-ffmpeg ships no ffprobe). Raises InputError naming the
    cause: no such file, a directory, an empty file, or data ffmpeg cannot read as media.
    """
    _check_readable(path)
    done = _call(["-hide_banner", "-nostdin", "-i", _url(path)], None)
    stderr = done.stderr
    if "Input #0" not in stderr:  # without an output ffmpeg exits 1 even when the input is fine
        cause = last_error_line(stderr, path) or f"exit status {done.returncode}"
        raise InputError(_explain(cause), path=path, stage="probe")
    audio: list[AudioStream] = []
    has_video = False
    for language, kind, rest in _STREAM.findall(stderr):
        if kind == "Audio":
            audio.append(_audio_stream(len(audio), rest, language))
        elif kind == "Video" and "(attached pic)" not in rest:
            has_video = True
    return MediaInfo(path, _duration(stderr), tuple(audio), has_video)


def stated_duration(path: str) -> float | None:
    """The duration the container states, to check a decode against; None when it states
    none, only guesses one from the bitrate (ffmpeg says so), or holds several audio tracks
    (its duration is then the longest track's, not necessarily the one decoded).

    Remembered per file version (size, mtime, inode): the service's length check and the
    pipeline's truncation check ask it of the same upload, and an ffmpeg start costs 0.03 s
    (imageio-ffmpeg's static build) to 0.11 s (Debian's) of CPU (BENCHMARKS.md, issue 15,
    seventh session)."""
    try:
        info = os.stat(path)
    except OSError:  # no such file, pipe:: ffmpeg says what is wrong
        return _stated_duration(path)
    return _remembered_duration(path, (info.st_size, info.st_mtime_ns, info.st_ino))


@functools.lru_cache(maxsize=64)
def _remembered_duration(path: str, version: tuple[int, int, int]) -> float | None:
    return _stated_duration(path)


def _stated_duration(path: str) -> float | None:
    stderr = _call(["-hide_banner", "-nostdin", "-i", _url(path)], None).stderr
    tracks = sum(1 for _, kind, _ in _STREAM.findall(stderr) if kind == "Audio")
    if tracks != 1 or "Estimating duration from bitrate" in stderr:
        return None
    return _duration(stderr)


def _check_readable(path: str) -> None:
    """Catch the commonest bad inputs before ffmpeg does, with plainer words than its own."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError(_unreachable(path, exc), path=path, stage="probe") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError("is a directory, not a media file", path=path, stage="probe")
    if stat.S_ISREG(info.st_mode) and info.st_size == 0:
        raise InputError("empty file", path=path, stage="probe")


def _unreachable(path: str, exc: OSError) -> str:
    """Why `path` cannot be opened, in a stranger's words; a name too long says its bytes
    (file systems count bytes, not characters: 255 on most)."""
    if exc.errno == errno.ENAMETOOLONG:
        longest = max(len(os.fsencode(part)) for part in path.split(os.sep))
        return f"name too long ({longest} bytes in one part; most file systems allow 255)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return "no such file"


def _explain(cause: str) -> str:
    if "No such file" in cause:
        return "no such file"
    if "Is a directory" in cause:
        return "is a directory, not a media file"
    if "Permission denied" in cause:
        return "permission denied"
    return f"not a media file ffmpeg can read ({cause})"


def _duration(stderr: str) -> float | None:
    match = _DURATION.search(stderr)  # "Duration: N/A" does not match
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _audio_stream(index: int, description: str, language: str) -> AudioStream:
    """Parse e.g. "aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s (default)"."""
    fields = [field.strip() for field in description.split(",")]
    rate = re.search(r"(\d+) Hz", description)
    return AudioStream(
        index=index,
        codec=fields[0].split()[0] if fields[0] else "unknown",
        channels=_channels(fields[2]) if len(fields) > 2 else None,
        sample_rate=int(rate.group(1)) if rate else None,
        language=language if language and language != "und" else None,
    )


def _channels(layout: str) -> int | None:
    name = layout.split("(")[0]
    if name in _LAYOUTS:
        return _LAYOUTS[name]
    if match := re.fullmatch(r"(\d+) channels", layout):
        return int(match.group(1))
    if match := re.fullmatch(r"(\d+)\.(\d+)", name):
        return int(match.group(1)) + int(match.group(2))
    return None


def load(path: str, clip: ClipOptions = WHOLE, *, stdin: BinaryIO | None = None) -> Audio:
    """Decode an input's audio to 16 kHz mono float32 in memory, clipped as `clip` says.

    `path` "pipe:" reads media bytes from `stdin` (default: the process's standard input) and
    skips probing, so its duration is unknown. A local file is probed first for clear errors:
    a missing, empty or unreadable file, no audio stream, a track or start out of range.

    A truncated file is decoded as far as ffmpeg can: if ffmpeg exits 0 the partial audio is
    returned (as ffmpeg and Whisper themselves do); a non-zero exit raises MediaError with
    ffmpeg's last stderr line, and decoding no samples at all raises MediaError too.
    """
    _check_clip(clip, path)
    duration: float | None = None
    if path == PIPE:
        if stdin is None:
            stdin = sys.stdin.buffer
    elif clip.start > 0 or clip.audio_track is not None:
        duration = checked(path, clip)
    else:
        # The whole default track: decode at once and probe only to explain a failure, which
        # saves an ffmpeg start per input (0.1-0.2 s, much of a short clip's cost).
        _check_readable(path)
        try:
            data = run_ffmpeg(_decode_args(path, clip), path=path, stage="decode")
        except MediaError:
            checked(path, clip)
            raise
        return _audio(data, path, clip, None)
    data = run_ffmpeg(_decode_args(path, clip), path=path, stage="decode", stdin=stdin)
    return _audio(data, path, clip, duration)


def checked(path: str, clip: ClipOptions = WHOLE) -> float | None:
    """Probe a local input and refuse what cannot serve `clip`, in the words every front end
    uses (no such file, empty, not media, no audio stream, a track or start out of range);
    the input's duration."""
    return _check_against(probe(path), clip)


def _audio(data: bytearray, path: str, clip: ClipOptions, duration: float | None) -> Audio:
    samples = np.frombuffer(data, dtype="<f4").astype(np.float32, copy=False)
    if samples.size == 0:
        raise MediaError("no audio could be decoded", path=path, stage="decode")
    if duration is None and path != PIPE and clip.start == 0 and clip.duration is None:
        duration = samples.size / SAMPLE_RATE  # the whole input was decoded
    return Audio(samples, offset=clip.start, source_duration=duration, path=path)


def _check_clip(clip: ClipOptions, path: str) -> None:
    if clip.start < 0:
        raise UsageError(f"--start must not be negative (got {clip.start:g})", path=path)
    if clip.duration is not None and clip.duration <= 0:
        raise UsageError(f"--duration must be positive (got {clip.duration:g})", path=path)
    if clip.audio_track is not None and clip.audio_track < 0:
        raise UsageError(f"--audio-track must be 0 or more (got {clip.audio_track})", path=path)


def _check_against(info: MediaInfo, clip: ClipOptions) -> float | None:
    """Refuse a clip the probed input cannot serve; return the input's duration."""
    count = info.audio_streams
    if count == 0:
        raise InputError("has no audio stream", path=info.path, stage="probe")
    track = clip.audio_track
    if track is not None and track >= count:
        plural = "track" if count == 1 else "tracks"
        raise InputError(
            f"--audio-track {track} is out of range: {info.path} has {count} audio {plural}"
            f" (0-{count - 1})",
            path=info.path,
            stage="probe",
        )
    if info.duration is not None and clip.start > 0 and clip.start >= info.duration:
        raise MediaError(
            f"start {clip.start:g}s is past the end (duration {info.duration:.1f}s)",
            path=info.path,
            stage="decode",
        )
    return info.duration


def _url(path: str) -> str:
    """What ffmpeg opens: "file:" keeps a local name with a colon from reading as a protocol."""
    return "pipe:0" if path == PIPE else f"file:{path}"


def _decode_args(path: str, clip: ClipOptions) -> list[str]:
    """ffmpeg arguments, composed with ffmpeg-python: seek to a little before the start, trim
    exactly, pick the track, normalize if asked (on the stream ffmpeg would pick, as `-af`),
    mix to 16 kHz mono float32 on stdout.

    An input seek (-ss before -i) alone is not sample-accurate on every build: ffmpeg 9 drops
    up to 60 ms of AAC after it (BENCHMARKS.md, "Seeking"). Landing `_PREROLL` early and
    trimming the rest as decoded output keeps the fast seek and gives the same samples as a
    full decode cut at the start, with every build tried.
    """
    import ffmpeg  # ffmpeg-python: builds the argument list; run_ffmpeg runs it

    coarse = max(clip.start - _PREROLL, 0.0)
    source = ffmpeg.input(_url(path), **({"ss": f"{coarse:.6f}"} if coarse > 0 else {}))
    if clip.audio_track is not None:
        source = source[f"a:{clip.audio_track}"]
    trim: dict[str, str] = {"af": "loudnorm"} if clip.normalize else {}
    if clip.start > coarse:
        trim["ss"] = f"{clip.start - coarse:.6f}"
    if clip.duration is not None:
        trim["t"] = f"{clip.duration:.6f}"
    # Down-mix as (L+R)/2 like PyAV and openai-whisper; ffmpeg's float default of 0.707*(L+R)
    # makes stereo 3 dB louder and can clip (measured on jfk.flac, BENCHMARKS.md).
    output = source.output(
        "pipe:1",
        f="f32le",
        ac=1,
        ar=SAMPLE_RATE,
        rematrix_maxval="1.0",
        vn=None,
        sn=None,
        dn=None,
        **trim,
    ).global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    args: list[str] = output.compile(cmd="ffmpeg")[1:]
    return args
