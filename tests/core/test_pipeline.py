"""The Python API the CLI is built on: a Pipeline object in, a Transcript out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffscribe.core.data.options import ClipOptions, DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import Transcript
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from tests.conftest import KNOWN_WORDS, MEDIA, TEST_MODEL


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(
        PipelineOptions(
            model=ModelOptions(name=TEST_MODEL), decode=DecodeOptions(word_timestamps=True)
        )
    )


def test_run_returns_a_transcript_with_the_known_words(pipeline: Pipeline) -> None:
    result = pipeline.run(str(MEDIA / "speech.wav"))
    assert all(w in result.text.lower() for w in KNOWN_WORDS)
    assert result.language == "en" and result.language_probability > 0.5
    assert result.model.name == TEST_MODEL and result.model.device == "cpu"
    assert result.source.kind == "file" and Path(result.source.uri).name == "speech.wav"
    assert result.options["decode"]["word_timestamps"] is True
    assert 3.0 < result.duration < 10.0
    words = [w for s in result.segments for w in s.words]
    assert words and all(w.start <= w.end for w in words)


def test_the_model_is_loaded_once(pipeline: Pipeline) -> None:
    first = pipeline.recognizer
    pipeline.run(str(MEDIA / "speech.ogg"))
    assert pipeline.recognizer is first


def test_result_saves_json_and_round_trips(pipeline: Pipeline, tmp_path: Path) -> None:
    result = pipeline.run(str(MEDIA / "speech.mp3"))
    saved = result.save_to_json(tmp_path)
    assert saved == tmp_path / "speech.json"
    raw = saved.read_text(encoding="utf-8")
    assert Transcript.from_json(raw) == result
    assert json.loads(raw)["text"] == result.text
    # As PaddleX's results: a directory that does not exist yet is made; a .json is the file.
    assert result.save_to_json(tmp_path / "out") == tmp_path / "out" / "speech.json"
    assert result.save_to_json(f"{tmp_path}/new/") == tmp_path / "new" / "speech.json"
    named = result.save_to_json(tmp_path / "deep" / "talk.JSON")
    assert named == tmp_path / "deep" / "talk.JSON" and named.is_file()
    assert Transcript.from_json((tmp_path / "out" / "speech.json").read_text()) == result


def test_clip_shifts_times_onto_the_source_timeline() -> None:
    whole = Pipeline(PipelineOptions(model=ModelOptions(name=TEST_MODEL))).run(
        str(MEDIA / "long_speech.wav")
    )
    clipped = Pipeline(
        PipelineOptions(model=ModelOptions(name=TEST_MODEL), clip=ClipOptions(start=6, duration=6))
    ).run(str(MEDIA / "long_speech.wav"))
    assert clipped.clip_start == 6.0 and clipped.duration == pytest.approx(whole.duration, abs=0.1)
    assert clipped.segments and clipped.segments[0].start >= 6.0
    assert clipped.segments[-1].end <= 12.0
    # The clipped text is a part of the whole text.
    assert len(clipped.text) < len(whole.text)


def test_plan_names_the_stages() -> None:
    plan = Pipeline(
        PipelineOptions(
            clip=ClipOptions(start=5, audio_track=1), decode=DecodeOptions(batch_size=8)
        )
    ).plan()
    assert [s.name for s in plan] == ["decode", "transcribe"]
    assert "audio track 1" in plan[0].detail and "batched x8" in plan[1].detail


def test_the_options_record_names_every_option_field() -> None:
    """Transcript.options is typed by TypedDicts that mirror the option dataclasses: a field
    added to one without the other would be recorded untyped (or typed but never written)."""
    from dataclasses import fields

    from ffscribe.core.asr.live import LiveOptions
    from ffscribe.core.data.options import ClipOptions, DecodeOptions, ModelOptions
    from ffscribe.core.data.transcript import (
        ClipRecord,
        DecodeRecord,
        DiarizeRecord,
        LiveRecord,
        ModelRecord,
        MusicRecord,
        VoicesRecord,
    )
    from ffscribe.core.music.detect import MusicOptions
    from ffscribe.core.speakers.turns import DiarizeOptions
    from ffscribe.core.speakers.voices import VoiceOptions

    def names(cls: type) -> set[str]:
        return {f.name for f in fields(cls)}

    assert set(ModelRecord.__annotations__) == names(ModelOptions)
    assert set(DecodeRecord.__annotations__) == names(DecodeOptions)
    assert set(ClipRecord.__annotations__) == names(ClipOptions)
    assert set(MusicRecord.__annotations__) == names(MusicOptions) | {"skip_music"}
    assert set(VoicesRecord.__annotations__) == names(VoiceOptions)
    assert set(LiveRecord.__annotations__) == names(LiveOptions)
    diarize = set(DiarizeRecord.__required_keys__) | set(DiarizeRecord.__optional_keys__)
    assert diarize == names(DiarizeOptions) - {"hf_token"} | {"speaker_names", "voices"}
