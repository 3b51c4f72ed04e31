"""The diarization stage: the offline backend on the dialogue fixtures, options, and pyannote."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import itertools
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ffscribe.core.data.errors import EnvironmentMissing, ExitCode, UsageError
from ffscribe.core.data.transcript import Turn
from ffscribe.core.media.ffmpeg import Audio, load
from ffscribe.core.speakers import encoder as speaker_encoder
from ffscribe.core.speakers import pyannote_backend as diarize_pyannote
from ffscribe.core.speakers.clustering import estimate_count, reassign
from ffscribe.core.speakers.diarize import load_diarizer
from ffscribe.core.speakers.encoder import PARTIAL_FRAMES, unit_rows
from ffscribe.core.speakers.offline import TURN_GAP, OfflineDiarizer, windows
from ffscribe.core.speakers.turns import DiarizeOptions, count_bounds, relabel

MEDIA = Path(__file__).parents[1] / "fixtures" / "media"
HAS_ENCODER = importlib.util.find_spec("resemblyzer") is not None
needs_encoder = pytest.mark.skipif(not HAS_ENCODER, reason="resemblyzer is not installed")


def reference(name: str) -> list[Turn]:
    rows = (line.split() for line in (MEDIA / f"{name}.rttm").read_text().splitlines())
    return [Turn(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def der(ref: list[Turn], hyp: tuple[Turn, ...], step: float = 0.01) -> float:
    """Frame-level diarization error rate, no collar, best one-to-one speaker mapping."""
    end = max(t.end for t in [*ref, *hyp])
    frames = np.arange(0.0, end, step)

    def activity(turns: list[Turn] | tuple[Turn, ...]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for t in turns:
            out.setdefault(t.speaker, np.zeros(len(frames), bool))
            out[t.speaker] |= (frames >= t.start) & (frames < t.end)
        return out

    r, h = activity(ref), activity(hyp)
    r_count = sum(r.values(), np.zeros(len(frames), int))
    h_count = sum(h.values(), np.zeros(len(frames), int))
    best = 0
    labels = list(h) + [None] * max(0, len(r) - len(h))
    for perm in itertools.permutations(labels, len(r)):
        hits = sum(
            int((r[ref_label] & h[hyp_label]).sum())
            for ref_label, hyp_label in zip(r, perm, strict=True)
            if hyp_label is not None
        )
        best = max(best, hits)
    errors = np.maximum(r_count, h_count).sum() - best
    return float(errors / r_count.sum())


@pytest.fixture(scope="module")
def offline() -> OfflineDiarizer:
    if not HAS_ENCODER:
        pytest.skip("resemblyzer is not installed")
    return OfflineDiarizer.load(DiarizeOptions(backend="offline"))


@pytest.fixture(scope="module")
def dialogue2() -> Audio:
    return load(str(MEDIA / "dialogue2.wav"))


@pytest.fixture(scope="module")
def dialogue3() -> Audio:
    return load(str(MEDIA / "dialogue3.wav"))


@pytest.mark.parametrize(("name", "speakers"), [("dialogue2", 2), ("dialogue3", 3)])
def test_offline_finds_the_speakers(
    offline: OfflineDiarizer, name: str, speakers: int, request: pytest.FixtureRequest
) -> None:
    audio: Audio = request.getfixturevalue(name)
    turns = offline.run(audio, DiarizeOptions(backend="offline"))
    labels = [t.speaker for t in turns]
    assert sorted(set(labels)) == [f"SPEAKER_{i:02d}" for i in range(speakers)]
    assert labels[0] == "SPEAKER_00"
    assert all(0 <= t.start < t.end <= audio.duration + 1e-6 for t in turns)
    assert all(a.start <= b.start for a, b in itertools.pairwise(turns))
    for speaker in set(labels):  # pauses inside a turn are part of it
        own = [t for t in turns if t.speaker == speaker]
        assert all(b.start - a.end > TURN_GAP for a, b in itertools.pairwise(own))
    assert der(reference(name), turns) < 0.08  # 0.036 and 0.040 when measured


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (DiarizeOptions(speakers=1), {1}),
        (DiarizeOptions(speakers=3), {3}),
        (DiarizeOptions(min_speakers=3), {3, 4}),
        (DiarizeOptions(max_speakers=1), {1}),
    ],
)
def test_offline_honours_counts(
    offline: OfflineDiarizer, dialogue2: Audio, options: DiarizeOptions, expected: set[int]
) -> None:
    turns = offline.run(dialogue2, options)
    assert len({t.speaker for t in turns}) in expected


@pytest.mark.parametrize("name", ["long_speech", "speech"])
def test_offline_one_voice_is_one_speaker(offline: OfflineDiarizer, name: str) -> None:
    turns = offline.run(load(str(MEDIA / f"{name}.wav")), DiarizeOptions())
    assert turns
    assert {t.speaker for t in turns} == {"SPEAKER_00"}


def test_one_voice_split_once_in_time_is_one_speaker() -> None:
    rng = np.random.default_rng(0)
    voice_a, voice_b = np.eye(8)[0], np.eye(8)[1]

    def windows(mean: np.ndarray, count: int) -> np.ndarray:
        return unit_rows((mean + 0.05 * rng.standard_normal((count, 8))).astype(np.float32))

    # cosine 0.76: past the count threshold, so AHC alone would make them two speakers
    drift = unit_rows(np.stack([voice_a, voice_a + 0.85 * voice_b]).astype(np.float32))
    before_after = np.concatenate([windows(drift[0], 10), windows(drift[1], 10)])
    assert estimate_count(before_after) == 1
    turns = [windows(drift[i % 2], 5) for i in range(4)]
    assert estimate_count(np.concatenate(turns)) == 2  # the same two clusters taking turns
    apart = np.concatenate([windows(voice_a, 10), windows(voice_b, 10)])
    assert estimate_count(apart) == 2  # split once, but two different voices


def test_windows_run_along_the_speech_only() -> None:
    regions = [(100, 150), (400, 520), (900, 1000)]  # 2.7 s of speech in 10 s
    timeline, starts = windows(regions, 1000)
    assert set(timeline.tolist()) == {f for a, b in regions for f in range(a, b)}
    assert starts[0] == 0 and starts[-1] == len(timeline) - PARTIAL_FRAMES
    assert np.diff(starts).max() <= 40
    short, short_starts = windows([(300, 350)], 1000)  # under one window: the whole timeline
    assert len(short) == 1000 and short_starts.tolist() == [245]


def test_reassign_moves_windows_to_the_nearer_centroid() -> None:
    rng = np.random.default_rng(1)
    voices = np.eye(8)[:3]
    truth = np.repeat([0, 1, 2, 0], 10)
    points = unit_rows((voices[truth] + 0.1 * rng.standard_normal((40, 8))).astype(np.float32))
    smeared = truth.copy()
    smeared[[9, 19, 29]] = smeared[[10, 20, 30]]  # each turn change a window late
    assert reassign(points, smeared).tolist() == truth.tolist()
    mixed = truth.copy()
    mixed[[0, 10]] = 3  # a cluster of one window of each of two voices: both would leave it
    assert sorted(set(reassign(points, mixed).tolist())) == [0, 1, 2, 3]  # the count stays
    assert reassign(points, np.zeros(40, dtype=np.int64)).tolist() == [0] * 40


def test_offline_max_speakers_on_three(offline: OfflineDiarizer, dialogue3: Audio) -> None:
    turns = offline.run(dialogue3, DiarizeOptions(max_speakers=2))
    assert len({t.speaker for t in turns}) == 2


def test_offline_times_follow_the_clip_offset(offline: OfflineDiarizer, dialogue2: Audio) -> None:
    shifted = dataclasses.replace(dialogue2, offset=100.0)
    plain = offline.run(dialogue2, DiarizeOptions())
    moved = offline.run(shifted, DiarizeOptions())
    assert [(round(t.start - 100, 3), t.speaker) for t in moved] == [
        (t.start, t.speaker) for t in plain
    ]


def test_offline_silence_has_no_turns(offline: OfflineDiarizer) -> None:
    assert offline.run(load(str(MEDIA / "silence.wav")), DiarizeOptions()) == ()


@needs_encoder
def test_numpy_encoder_loads_the_shipped_weights() -> None:
    state = speaker_encoder.load_state(speaker_encoder.find_weights())
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["linear.weight"].shape == (256, 256)
    assert float(np.abs(state["lstm.weight_hh_l2"]).mean()) > 0.1  # real numbers, not zeros
    encoder = speaker_encoder.SpeakerEncoder.load()
    mel = encoder.mel(np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32))
    assert mel.shape == (201, 40)
    embedding = encoder.embed(mel[None, :160])
    assert embedding.shape == (1, 256)
    assert abs(float(np.linalg.norm(embedding)) - 1.0) < 1e-5 and embedding.min() >= 0


def test_offline_without_resemblyzer_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EnvironmentMissing) as info:
        speaker_encoder.find_weights()
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert "pip install --no-deps resemblyzer==0.1.4" in info.value.message


@needs_encoder
def test_auto_falls_back_to_offline_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    diarizer, note = load_diarizer(DiarizeOptions())
    if diarizer.name == "pyannote":
        pytest.skip("pyannote.audio loads here: no fallback to see")
    assert diarizer.name == "offline"
    assert note is not None and "offline" in note and "pyannote" in note and "\n" not in note
    named, no_note = load_diarizer(DiarizeOptions(backend="offline"))
    assert named.name == "offline" and no_note is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": "whisperx"},
        {"speakers": 0},
        {"min_speakers": 3, "max_speakers": 2},
        {"speakers": 5, "max_speakers": 4},
    ],
)
def test_bad_options(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        DiarizeOptions(**kwargs)


def test_count_bounds_and_relabel() -> None:
    assert count_bounds(DiarizeOptions(), 8) == (1, 8)
    assert count_bounds(DiarizeOptions(speakers=3), 8) == (3, 3)
    assert count_bounds(DiarizeOptions(min_speakers=2, max_speakers=4), 8) == (2, 4)
    assert count_bounds(DiarizeOptions(speakers=5), 2) == (2, 2)  # never more than the windows
    turns = relabel([Turn(5, 6, "x"), Turn(0, 1, "y"), Turn(2, 3, "x")])
    assert [t.speaker for t in turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]


# pyannote: conversion with real pyannote.core objects; loading errors without pyannote.audio.


@dataclasses.dataclass
class _Output:
    """The shape of pyannote.audio 4.x's DiarizeOutput (which needs torch to import)."""

    speaker_diarization: Any
    exclusive_speaker_diarization: Any


def test_pyannote_output_to_turns() -> None:
    core = pytest.importorskip("pyannote.core")
    annotation = core.Annotation(uri="x")
    annotation[core.Segment(3.0, 5.5)] = "spk_b"
    annotation[core.Segment(0.5, 3.2)] = "spk_a"
    annotation[core.Segment(5.0, 7.0), "second"] = "spk_a"  # overlaps spk_b: kept
    annotation[core.Segment(8.0, 8.0)] = "spk_c"  # empty: dropped
    expected = (
        Turn(10.5, 13.2, "SPEAKER_00"),
        Turn(13.0, 15.5, "SPEAKER_01"),
        Turn(15.0, 17.0, "SPEAKER_00"),
    )
    assert diarize_pyannote.to_turns(annotation, offset=10.0) == expected
    output = _Output(annotation, annotation.support())
    assert diarize_pyannote.to_turns(output, offset=10.0) == expected


def _has_pyannote_audio() -> bool:
    try:
        return importlib.util.find_spec("pyannote.audio") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(_has_pyannote_audio(), reason="pyannote.audio is installed here")
def test_pyannote_missing_names_the_extra() -> None:
    with pytest.raises(EnvironmentMissing) as info:
        load_diarizer(DiarizeOptions(backend="pyannote", hf_token="x"))
    assert "pip install 'ffscribe[pyannote]'" in info.value.message


@pytest.fixture
def stub_pyannote(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in pyannote.audio (the real one needs ~7 GB of torch), only where it is absent."""
    if _has_pyannote_audio():
        return
    module = types.ModuleType("pyannote.audio")
    module.Pipeline = object  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyannote.audio", module)


def test_pyannote_without_token(stub_pyannote: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(EnvironmentMissing) as info:
        load_diarizer(DiarizeOptions(backend="pyannote"))
    message = info.value.message
    assert "--hf-token" in message and "HF_TOKEN" in message
    assert "https://hf.co/pyannote/speaker-diarization-community-1" in message


def _raising(error: Exception) -> Any:
    class Pipeline:
        @classmethod
        def from_pretrained(cls, source: str, token: str | None) -> Any:
            raise error

    return Pipeline


def test_pyannote_hub_failures_have_their_own_messages() -> None:
    hub = pytest.importorskip("huggingface_hub.errors")
    # The HTTP client huggingface_hub's errors are built on (httpx, or httpx2 in recent releases).
    http = importlib.import_module(hub.HfHubHTTPError.__mro__[1].__module__.split(".")[0])
    response = http.Response(403, request=http.Request("GET", "https://hf.co/x"))
    cases = [
        (_raising(hub.GatedRepoError("gated", response=response)), "refused"),
        (_raising(hub.RepositoryNotFoundError("gone", response=response)), "no pipeline"),
        (_raising(hub.LocalEntryNotFoundError("offline")), "no network"),
    ]
    for pipeline_class, words in cases:
        with pytest.raises(EnvironmentMissing, match=words):
            diarize_pyannote._from_pretrained(pipeline_class, "org/model", "token")

    class Refused:
        @classmethod
        def from_pretrained(cls, source: str, token: str | None) -> None:
            return None  # pyannote 3.x's answer to a gated model without access

    with pytest.raises(EnvironmentMissing, match="refused"):
        diarize_pyannote._from_pretrained(Refused, "org/model", "token")


def test_pyannote_from_a_local_directory(dialogue2: Audio) -> None:
    folder = os.environ.get("FFSCRIBE_PYANNOTE_DIR")
    if not _has_pyannote_audio() or not folder:
        pytest.skip("needs pyannote.audio and FFSCRIBE_PYANNOTE_DIR (a downloaded pipeline)")
    diarizer, note = load_diarizer(DiarizeOptions(backend="pyannote", model=folder))
    assert note is None
    turns = diarizer.run(dialogue2, DiarizeOptions(backend="pyannote", model=folder))
    assert len({t.speaker for t in turns}) == 2
    assert der(reference("dialogue2"), turns) < 0.15


def test_device_names_for_torch() -> None:
    from ffscribe.core.speakers.pyannote_backend import torch_device

    assert torch_device("auto", lambda: True) == "cuda"
    assert torch_device("auto", lambda: False) == "cpu"
    assert torch_device("gpu:1", lambda: False) == "cuda:1"
    assert torch_device("cuda:0", lambda: False) == "cuda:0" and torch_device("cpu", bool) == "cpu"
