"""Known voices with the real encoder: enrolled samples (other sentences of the dialogue
fixtures' espeak-ng voices, tests/fixtures/make_dialogue_fixtures.sh) name the speakers of
dialogue3; its third voice, enrolled nowhere, keeps its label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ffscribe.core.data.transcript import Speaker, Turn
from ffscribe.core.media.ffmpeg import load
from ffscribe.core.speakers.encoder import HIDDEN, SpeakerEncoder
from ffscribe.core.speakers.voices import (
    ENCODER,
    KnownVoices,
    Voice,
    VoiceOptions,
    identify,
    load_voices,
    samples_of,
    speaker_vectors,
    write_sample,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VOICES = FIXTURES / "voices"
DIALOGUE = FIXTURES / "media" / "dialogue3"


def reference() -> list[Turn]:
    rows = [line.split() for line in DIALOGUE.with_suffix(".rttm").read_text().splitlines()]
    return [Turn(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder.load()


@pytest.fixture(scope="module")
def vectors(encoder: SpeakerEncoder) -> dict[str, np.ndarray]:
    return speaker_vectors(encoder, load(str(DIALOGUE.with_suffix(".wav"))).samples, reference())


def test_both_layouts_are_read() -> None:
    found = samples_of(VOICES)
    assert sorted(found) == ["Ana", "Ben", "Dee"]
    assert [p.name for p in found["Ben"]] == ["1.wav"]


def test_enrolled_voices_name_their_speakers_and_a_guest_keeps_its_label(
    encoder: SpeakerEncoder, vectors: dict[str, np.ndarray], tmp_path: Path
) -> None:
    voices = load_voices(VOICES, encoder, tmp_path / "cache")
    matches = identify(vectors, voices)
    assert matches["A"].name == "Ana" and matches["B"].name == "Ben"
    assert matches["C"].name is None  # C was never enrolled
    assert all(0 < m.similarity <= 1 and m.margin >= 0 for m in matches.values())
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # one vector per sample, cached
    again = load_voices(VOICES, encoder, tmp_path / "cache")
    assert [v.name for v in again] == [v.name for v in voices]


def test_no_two_speakers_take_one_name(vectors: dict[str, np.ndarray]) -> None:
    ana = Voice("Ana", tuple(float(v) for v in vectors["A"]), 1)
    # B's own vector as a second speaker: both are Ana's nearest; only the closer keeps it.
    twins = {"A": vectors["A"], "A2": 0.8 * vectors["A"] + 0.2 * vectors["B"]}
    matches = identify({k: v / np.linalg.norm(v) for k, v in twins.items()}, [ana], margin=0.0)
    assert [m.name for m in matches.values()].count("Ana") == 1
    assert matches["A"].name == "Ana"


def test_vectors_and_names_in_the_speakers(encoder: SpeakerEncoder, tmp_path: Path) -> None:
    known = KnownVoices.load(VoiceOptions(directory=VOICES, vectors=True, cache=tmp_path), encoder)
    audio = load(str(DIALOGUE.with_suffix(".wav")))
    turns = [
        Turn(t.start, t.end, {"A": "S0", "B": "S1", "C": "S2"}[t.speaker]) for t in reference()
    ]
    _, renamed, speakers = known.apply(audio.samples, 0.0, (), turns)
    assert [s.id for s in speakers] == ["Ana", "Ben", "S2"]
    assert {t.speaker for t in renamed} == {"Ana", "Ben", "S2"}
    assert speakers[0].label == "S0" and speakers[2].label is None
    for speaker in speakers:
        assert speaker.vector is not None and len(speaker.vector) == HIDDEN
        assert speaker.encoder == ENCODER
        assert Speaker.from_dict(speaker.to_dict()) == speaker


def test_an_old_speaker_entry_still_loads() -> None:
    assert Speaker.from_dict({"id": "SPEAKER_00", "speech_seconds": 3.5}) == Speaker(
        "SPEAKER_00", 3.5
    )


def test_a_written_sample_enrolls_the_speaker(
    encoder: SpeakerEncoder, vectors: dict[str, np.ndarray], tmp_path: Path
) -> None:
    audio = load(str(DIALOGUE.with_suffix(".wav")))
    path = write_sample(audio.samples, reference(), "C", "Cy", tmp_path / "voices", stem="ep1")
    assert path == tmp_path / "voices" / "Cy" / "ep1-C.wav"
    voices = load_voices(tmp_path / "voices", encoder, tmp_path / "cache")
    assert identify({"C": vectors["C"]}, voices, margin=0.0)["C"].name == "Cy"
