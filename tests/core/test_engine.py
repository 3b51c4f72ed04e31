"""The engine with the real tiny.en model: jobs, cancelling, the same text on every run,
and finished parts kept for a resume."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from ffscribe.core.data.errors import Cancelled
from ffscribe.core.data.options import DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import Segment, Transcript
from ffscribe.core.engine.checkpoint import Checkpoint
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from ffscribe.core.engine.pool import Engine
from ffscribe.core.media import ffmpeg as media
from tests.conftest import MEDIA, TEST_MODEL


def write_wav(path: Path, samples: np.ndarray) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(media.SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def long_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """78 s: four copies of long_speech.wav, cut into two parts with two workers."""
    sentences = media.load(str(MEDIA / "long_speech.wav")).samples
    folder = tmp_path_factory.mktemp("engine")
    return write_wav(folder / "long.wav", np.concatenate([sentences] * 4))


def pipeline(**decode: object) -> Pipeline:
    return Pipeline(
        PipelineOptions(
            model=ModelOptions(name=TEST_MODEL, jobs=2),
            decode=DecodeOptions(language="en", **decode),  # type: ignore[arg-type]
        )
    )


def words(result: Transcript) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in result.segments]


def test_jobs_come_back_as_the_pipeline_alone_gives_them() -> None:
    alone = pipeline()
    expected = [alone.run(str(MEDIA / name)).text for name in ("speech.wav", "speech.mp3")]
    with Engine(pipeline()) as engine:
        assert engine.workers == 2
        jobs = [engine.submit(str(MEDIA / name)) for name in ("speech.wav", "speech.mp3")]
        assert [job.result(timeout=300).text for job in jobs] == expected


def test_a_long_input_reads_the_same_whatever_the_workers_are_doing(long_input: Path) -> None:
    """Whether and where it is cut depends on the input alone: three runs (two alone, one
    behind other inputs that hold the workers) give the same text and segments."""
    with Engine(pipeline()) as engine:
        first = engine.submit(str(long_input)).result(timeout=600)
        again = [engine.submit(str(long_input)).result(timeout=600)]
        busy = [engine.submit(str(MEDIA / "long_speech.wav")) for _ in range(2)]
        behind = engine.submit(str(long_input))
        assert all(job.result(timeout=600).text for job in busy)
        crowded = behind.result(timeout=600)
    assert len(first.segments) > 5
    for other in (*again, crowded):
        assert other.text == first.text and words(other) == words(first)


def test_cancel_before_and_during_a_job(long_input: Path) -> None:
    seen = threading.Event()
    with Engine(pipeline(), workers=1) as engine:
        running = engine.submit(str(long_input), progress=lambda done, total: seen.set())
        queued = engine.submit(str(MEDIA / "speech.wav"))
        queued.cancel()
        assert seen.wait(300)
        running.cancel()
        with pytest.raises(Cancelled):
            running.result(timeout=60)
        with pytest.raises(Cancelled):
            queued.result(timeout=60)
        # The engine goes on with later work.
        assert engine.submit(str(MEDIA / "speech.wav")).result(timeout=300).text


def test_finished_parts_are_kept_and_a_rerun_decodes_none_of_them(
    long_input: Path, tmp_path: Path
) -> None:
    from tests.core.test_asr import _CountingEncoder

    sidecar = Checkpoint(tmp_path / ".long.ffscribe-parts.json")
    tiny = pipeline()
    seen: list[float] = []
    heard: list[Segment] = []
    again: list[Segment] = []
    shares: list[float] = []  # the progress when each segment was heard
    with Engine(tiny) as engine:
        job = engine.submit(
            str(long_input),
            checkpoint=sidecar,
            segment=lambda s: (heard.append(s), shares.append(seen[-1] if seen else 0.0)),
            progress=lambda done, total: seen.append(done / total),
        )
        whole = job.result(timeout=600)
        assert sidecar.path.exists()  # the batch removes it once the outputs are written
        counter = _CountingEncoder(tiny.recognizer.model.model)
        tiny.recognizer.model.model = counter
        rerun = engine.submit(str(long_input), checkpoint=sidecar, segment=again.append)
        resumed = rerun.result(timeout=600)
    assert counter.encodes == 0 and counter.generates == 0  # every part came from the sidecar
    assert resumed.segments == whole.segments and resumed.language == whole.language
    # The parts' segments were heard once each, in order, decoded or resumed; the first
    # part's early windows before the parts were done (its last window may still be trimmed).
    assert tuple(heard) == whole.segments and tuple(again) == whole.segments
    assert shares[0] < 0.9
    # Other options make another key: the sidecar is not read, and is replaced.
    assert Checkpoint(sidecar.path).load("another key") == {}
    greedy = pipeline(beam_size=1)
    with Engine(greedy) as engine:
        counter = _CountingEncoder(greedy.recognizer.model.model)
        greedy.recognizer.model.model = counter
        engine.submit(str(long_input), checkpoint=sidecar).result(timeout=600)
    assert counter.encodes > 0


def test_segments_are_heard_as_they_are_decoded_in_order() -> None:
    """One piece: each segment reaches the job's segment callback as the decoder yields it,
    before the progress that follows it, long before the job ends; the heard segments are
    the result's."""
    events: list[tuple[str, float]] = []
    heard: list[Segment] = []
    one = Pipeline(
        PipelineOptions(model=ModelOptions(name=TEST_MODEL, jobs=1), decode=DecodeOptions())
    )
    with Engine(one) as engine:
        job = engine.submit(
            str(MEDIA / "long_speech.wav"),
            segment=lambda s: (heard.append(s), events.append(("segment", s.end))),
            progress=lambda done, total: events.append(("progress", done / total)),
        )
        result = job.result(timeout=300)
    assert tuple(heard) == result.segments and len(heard) >= 4  # ids and labels too
    segments = [at for kind, at in events if kind == "segment"]
    first = events.index(("segment", segments[0]))
    # Progress still short of the end comes after the first segment: it was not held back.
    assert any(kind == "progress" and share < 0.9 for kind, share in events[first:])


def test_a_job_may_bring_its_own_options_for_the_loaded_model() -> None:
    from dataclasses import replace

    from ffscribe.core.data.errors import UsageError

    tiny = pipeline()
    worded = replace(tiny.options, decode=replace(tiny.options.decode, word_timestamps=True))
    with Engine(tiny) as engine:
        plain = engine.submit(str(MEDIA / "speech.wav")).result(timeout=300)
        words_on = engine.submit(str(MEDIA / "speech.wav"), options=worded).result(timeout=300)
        other = replace(tiny.options, model=replace(tiny.options.model, name="base"))
        with pytest.raises(UsageError, match=r"has tiny\.en loaded"):
            engine.submit(str(MEDIA / "speech.wav"), options=other).result(timeout=300)
    assert not any(s.words for s in plain.segments)
    assert all(s.words for s in words_on.segments)
    assert words_on.options["decode"]["word_timestamps"] is True
