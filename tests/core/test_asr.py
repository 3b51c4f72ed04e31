"""Speech recognition with the real tiny.en model: long inputs cut into parts, the speech a
last window leaves undecoded, and the filler Whisper writes into pauses."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from ffscribe.core.asr.models import resolve_model
from ffscribe.core.asr.recognizer import Recognizer, _quiet_within, _transcribe_kwargs
from ffscribe.core.asr.recover import (
    _leading_tokens,
    _prompt_tokens,
    filler,
    first_clause,
    recover,
    said,
    sparse,
    speech_after,
    speech_within,
    trim_cut_tail,
)
from ffscribe.core.asr.split import cut_points, part_count, sounding, split_chunks
from ffscribe.core.data.options import DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import Segment
from ffscribe.core.media import ffmpeg as media
from ffscribe.core.media.ffmpeg import Audio
from tests.conftest import MEDIA, TEST_MODEL

RATE = 16000
# One word of each sentence of long_speech.wav that tiny.en hears (tests/fixtures/README.md).
SENTENCES = ("welcome", "paris", "station", "umbrella", "elephant")


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(resolve_model(TEST_MODEL).path, TEST_MODEL, ModelOptions(jobs=2))


@pytest.fixture(scope="module")
def sentences() -> Audio:
    return media.load(str(MEDIA / "long_speech.wav"))


def test_a_long_input_is_cut_into_parts_and_comes_back_whole(
    recognizer: Recognizer, sentences: Audio
) -> None:
    # Four copies of the five sentences: 78 s, cut at pauses into two parts decoded at once.
    samples = np.concatenate([sentences.samples] * 4)
    audio = Audio(samples=samples, offset=100.0, source_duration=None, path="x.wav")
    seen: list[tuple[float, float]] = []
    result = recognizer.recognize(
        audio, DecodeOptions(language="en"), lambda done, total: seen.append((done, total))
    )
    text = " ".join(s.text for s in result.segments).lower()
    positions = [text.find(w) for w in SENTENCES]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert sum(text.count(w) for w in SENTENCES) == 4 * len(SENTENCES)  # no sentence twice
    assert [s.id for s in result.segments] == list(range(len(result.segments)))
    assert all(a.end <= b.start + 1e-6 for a, b in pairwise(result.segments))
    assert result.segments[0].start >= 100.0 and result.segments[-1].end <= 100.0 + audio.duration
    assert seen[-1][0] == pytest.approx(audio.duration) and seen[-1][1] == audio.duration


def test_a_first_part_reads_as_the_whole_input_does(
    recognizer: Recognizer, sentences: Audio
) -> None:
    # Its speech and its log-mel floor are the whole's (the loudest frame may lie in a
    # later part), so until its last window nears the cut its text is the unsplit text.
    samples = np.concatenate([sentences.samples * np.float32(0.3)] * 4 + [sentences.samples] * 4)
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="x.wav")
    parts = cut_points(
        sounding(samples), samples.size, part_count(audio.duration, 2), _quiet_within(samples)
    )
    assert len(parts) == 2
    settled = parts[0][1] / RATE - 30.0  # before the window that reaches the cut
    kwargs = _transcribe_kwargs(DecodeOptions(language="en"))
    whole, _ = recognizer.model.transcribe(samples, **kwargs)
    expected = [(s.start, s.text) for s in whole if s.end < settled]
    split = recognizer.recognize(audio, DecodeOptions(language="en"))
    got = [(s.start, s.text) for s in split.segments if s.end < settled]
    assert len(expected) >= 4 and got == expected


def test_a_part_that_fails_stops_the_others(
    recognizer: Recognizer, sentences: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = np.concatenate([sentences.samples] * 4)  # 78 s: two parts
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="x.wav")

    def broken(*args: Any) -> None:  # the second part fails before it decodes anything
        raise RuntimeError("part 2 broke")

    monkeypatch.setattr(recognizer, "_context", broken)
    seen: list[float] = []
    with pytest.raises(RuntimeError, match="part 2 broke"):
        recognizer.recognize(audio, DecodeOptions(language="en"), lambda d, t: seen.append(d))
    assert max(seen, default=0.0) < audio.duration / 4  # the first part stopped early


def test_a_first_part_that_fails_before_the_language_is_known_stops_the_others(
    recognizer: Recognizer, sentences: Audio, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = np.concatenate([sentences.samples] * 4)  # 78 s: two parts
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="x.wav")

    def broken(*args: Any) -> None:  # the other part waits for this language
        raise RuntimeError("no language")

    monkeypatch.setattr(recognizer, "_language", broken)
    with pytest.raises(RuntimeError, match="no language"):
        recognizer.recognize(audio, DecodeOptions(language="en"))

    # Failing before it even asks (setting up its features): the other part must not wait.
    from ffscribe.core.asr import recognizer as asr

    monkeypatch.undo()  # the language is found again (the language given is known at once)

    real = asr._floored

    def floored(extractor: Any, top: Any) -> Any:
        if sys._getframe(1).f_locals.get("index") == 0:  # called for the first part
            raise RuntimeError("no features")
        return real(extractor, top)

    monkeypatch.setattr(asr, "_floored", floored)
    failed: list[BaseException] = []

    def attempt() -> None:
        try:
            recognizer.recognize(audio, DecodeOptions(language="en"))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the second part waited for a language that never came"
    assert [str(e) for e in failed] == ["no features"]


def test_the_speech_of_a_whole_is_split_at_the_cuts() -> None:
    voiced = [{"start": 0, "end": 100}, {"start": 150, "end": 400}, {"start": 500, "end": 600}]
    parts = [(0, 200), (200, 520), (520, 700)]
    split = split_chunks(voiced, parts)
    assert split == [
        [{"start": 0, "end": 100}, {"start": 150, "end": 200}],
        [{"start": 0, "end": 200}, {"start": 300, "end": 320}],
        [{"start": 0, "end": 80}],
    ]
    sizes = [sum(c["end"] - c["start"] for c in part or []) for part in split]
    assert sum(sizes) == sum(c["end"] - c["start"] for c in voiced)
    assert split_chunks(None, parts) == [None, None, None]
    assert split_chunks([], parts) == [[], [], []]


def test_the_speech_a_last_window_left_out_is_decoded(
    recognizer: Recognizer, sentences: Audio
) -> None:
    kwargs = _transcribe_kwargs(DecodeOptions(language="en"))
    found, _ = recognizer.model.transcribe(sentences.samples, **kwargs)
    whole = list(found)
    # As if Whisper had stopped after the second sentence (a real run cannot be made to).
    paris = next(i for i, s in enumerate(whole) if "paris" in s.text.lower())
    kept = whole[: paris + 1]
    assert "station" not in " ".join(s.text for s in kept).lower()
    out = list(recover(recognizer.model, sentences.samples, iter(kept), kwargs, "en"))
    text = " ".join(s.text for s in out).lower()
    assert all(w in text for w in SENTENCES)
    recovered = out[len(kept) :]
    assert recovered[0].start >= kept[-1].end and recovered[-1].end <= sentences.duration + 0.5
    assert "station" in recovered[0].text.lower() and 8.0 < recovered[0].start < 9.5


def _whole(recognizer: Recognizer, sentences: Audio) -> tuple[dict[str, Any], list[Any]]:
    kwargs = _transcribe_kwargs(DecodeOptions(language="en"))
    found, _ = recognizer.model.transcribe(sentences.samples, **kwargs)
    return kwargs, list(found)


def test_speech_skipped_between_segments_is_decoded(
    recognizer: Recognizer, sentences: Audio
) -> None:
    kwargs, whole = _whole(recognizer, sentences)
    # As if Whisper had dropped the third sentence's window (a real run cannot be made to).
    station = next(i for i, s in enumerate(whole) if "station" in s.text.lower())
    holed = whole[:station] + whole[station + 1 :]
    out = list(recover(recognizer.model, sentences.samples, iter(holed), kwargs, "en"))
    texts = [s.text.lower() for s in out]
    assert [any(w in t for t in texts) for w in SENTENCES] == [True] * len(SENTENCES)
    found = next(s for s in out if "station" in s.text.lower())
    assert out.index(found) == station  # in its place, between its neighbours
    assert whole[station - 1].end <= found.start and found.end <= whole[station + 1].start + 0.5
    assert sum("paris" in t or "umbrella" in t for t in texts) == 2  # neighbours not repeated


def test_a_segment_that_jumped_over_speech_is_decoded_again(
    recognizer: Recognizer, sentences: Audio
) -> None:
    kwargs, whole = _whole(recognizer, sentences)
    # Whisper's timestamp jump: the first sentence's words, then an end 16 s past them.
    jumped = replace(whole[0], end=whole[-1].end)
    assert sparse(jumped) and not any(sparse(s) for s in whole)
    out = list(recover(recognizer.model, sentences.samples, iter([jumped]), kwargs, "en"))
    # Ended after its first clause, and the rest of its sentence decoded again after it
    # (the words of a jump's end may be from after the jump: next test).
    assert out[0].text == " Good morning," and out[0].end < 2.0
    text = " ".join(s.text for s in out).lower()
    positions = [text.find(w) for w in SENTENCES]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert all(text.count(w) == 1 for w in SENTENCES)
    assert all(a.end <= b.start + 1e-6 for a, b in pairwise(out))
    # A long segment whose span holds no more speech than its words is left alone.
    quiet = np.concatenate([sentences.samples[: 4 * RATE], np.zeros(12 * RATE, np.float32)])
    alone = replace(whole[0], end=16.0)
    assert list(recover(recognizer.model, quiet, iter([alone]), kwargs, "en")) == [alone]


def test_a_jump_that_kept_the_words_after_it_keeps_them_there(
    recognizer: Recognizer, sentences: Audio
) -> None:
    kwargs = _transcribe_kwargs(DecodeOptions(language="en", word_timestamps=True))
    whole = list(recognizer.model.transcribe(sentences.samples, **kwargs)[0])
    # The first clause, then the last sentence's words, over all five sentences: the jump
    # of the 676 s benchmark file ("In this regard, Mr. Quilter is ..." over a paragraph).
    comma = list(whole[0].tokens).index(11) + 1  # "Good morning,"
    jumped = replace(
        whole[0],
        end=whole[-1].end,
        text=" Good morning," + whole[-1].text,
        tokens=(*whole[0].tokens[:comma], *whole[-1].tokens[1:]),
        words=[*whole[0].words[:2], *whole[-1].words],
    )
    assert sparse(jumped)
    out = list(recover(recognizer.model, sentences.samples, iter([jumped]), kwargs, "en"))
    assert out[0].text == " Good morning," and out[0].end < 2.0  # its first clause only
    assert list(out[0].tokens) == list(whole[0].tokens[:comma])
    assert [w.word for w in out[0].words] == [" Good", " morning,"]  # and its words
    text = " ".join(s.text for s in out).lower()
    positions = [text.find(w) for w in SENTENCES]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert all(text.count(w) == 1 for w in SENTENCES)  # the last sentence once, in its place
    assert all(a.end <= b.start + 1e-6 for a, b in pairwise(out))


def test_a_first_clause_ends_at_punctuation_after_a_word() -> None:
    assert first_clause(" In this regard, Mr. Quilter is here.") == " In this regard,"
    assert first_clause(" Mr. Quilter is the apostle. Of the") == " Mr. Quilter is the apostle."
    assert first_clause(" The U.S. army came, then") == " The U.S. army came,"
    assert first_clause(" ... and so on") == " ... and so on"  # no word before the dots
    assert first_clause(" in this regard.") == " in this regard."  # all of it


def test_tokens_that_spell_no_clause_are_none(recognizer: Recognizer) -> None:
    from faster_whisper.transcribe import Segment as Found

    encode = recognizer.model.hf_tokenizer.encode
    tokens = [50363, *encode(" Good morning, everyone.", add_special_tokens=False).ids]
    found = Found(0, 0, 0.0, 9.0, " Good morning, everyone.", tokens, 0.0, 0.0, 0.0, None, 0.0)
    assert _leading_tokens(recognizer.model, found, " Good morning,") == tokens[:4]
    assert _leading_tokens(recognizer.model, found, " Bad morning,") is None
    assert _leading_tokens(recognizer.model, found, " ...") is None


def test_a_whole_transcript_is_left_as_it_is(recognizer: Recognizer, sentences: Audio) -> None:
    kwargs, whole = _whole(recognizer, sentences)
    assert list(recover(recognizer.model, sentences.samples, iter(whole), kwargs, "en")) == whole
    no_vad = {**kwargs, "vad_filter": False}
    holed = whole[:2] + whole[3:]
    assert list(recover(recognizer.model, sentences.samples, iter(holed), no_vad, "en")) == holed


def test_a_pause_holds_missed_speech_only_away_from_its_edges(sentences: Audio) -> None:
    assert speech_within(np.zeros(4 * RATE, np.float32)) is None
    assert speech_within(sentences.samples[: RATE // 2]) is None  # too short to look at
    # 8.0-12.0 s is the third sentence: speech throughout, found near the start.
    start = speech_within(sentences.samples[8 * RATE : 12 * RATE])
    assert start is not None and start < RATE
    # Half a second either side of a pause: the neighbours' words, not missed speech.
    quiet = np.zeros(3 * RATE, np.float32)
    edges = np.concatenate([sentences.samples[int(7.9 * RATE) : 8 * RATE], quiet])
    assert speech_within(edges) is None


def test_no_tail_is_decoded_after_the_last_words(sentences: Audio) -> None:
    end = int(19.2 * RATE)  # just before "roof" ends: speech at the very start, not after
    assert speech_after(sentences.samples[end:]) is None
    assert speech_after(np.zeros(5 * RATE, np.float32)) is None
    start = speech_after(sentences.samples[int(10.9 * RATE) :])  # pause, then sentence 4
    assert start is not None and 0.8 * RATE < start < 1.6 * RATE


def test_a_tail_sentence_after_the_last_words_own_end_is_found(sentences: Audio) -> None:
    # The last segment ended 0.2 s before "roof" did; a pause, then another sentence: the
    # 676 s benchmark file lost its last sentence so when only the pause counted as tail.
    head = sentences.samples[int(19.0 * RATE) :]  # speech right at the start
    pause = np.zeros(int(1.5 * RATE), np.float32)
    tail = np.concatenate([head, pause, sentences.samples[int(12.2 * RATE) : 15 * RATE]])
    start = speech_after(tail)
    assert start is not None
    assert head.size + pause.size - RATE // 2 < start < head.size + pause.size + RATE // 2


@dataclass
class _Seg:
    text: str
    no_speech_prob: float
    avg_logprob: float


def test_filler_is_repeated_text_or_what_whisper_calls_silence() -> None:
    earlier = [_Seg("From fairest creatures we desire increase,", 0.1, -0.2)]
    repeat = _Seg("from fairest creatures", 0.9, -0.5)
    assert filler(repeat, earlier, 0.6, -1.0)
    assert not filler(_Seg("from fairest creatures", 0.3, -0.5), earlier, 0.6, -1.0)
    assert not filler(_Seg("Pity the world, or else", 0.8, -0.4), earlier, 0.6, -1.0)
    assert filler(_Seg("Pity the world, or else", 0.8, -1.4), earlier, 0.6, -1.0)
    assert filler(_Seg(" ...", 0.8, -0.4), earlier, 0.6, -1.0)
    # Two earlier lines joined into one: still filler.
    earlier = [
        _Seg("Thou that art now the world's fresh ornament,", 0.1, -0.2),
        _Seg("and only herald to the gaudy spring,", 0.1, -0.2),
        _Seg("and tender churl makes waste in niggarding.", 0.1, -0.2),
    ]
    mashup = "Thou art now the world's fresh ornament, and tender churl makes waste in niggarding."
    assert filler(_Seg(mashup, 0.9, -0.5), earlier, 0.6, -1.0)
    assert not filler(
        _Seg("Pity the world, or else this glutton be,", 0.9, -0.5), earlier, 0.6, -1.0
    )


def test_a_short_recovered_line_is_said_only_as_whole_words() -> None:
    around = ["i", "dont", "know", "what", "you", "mean"]
    assert not said("No.", around)  # a missed answer, not the "no" inside "know"
    assert not said("Go on.", ["good", "one"])
    assert said("You mean", around) and said("know.", around) and said(" ...", around)


def test_recovery_prompts_start_with_the_users_prompt(recognizer: Recognizer) -> None:
    from faster_whisper.tokenizer import Tokenizer

    tokenizer = Tokenizer(recognizer.model.hf_tokenizer, False, task="transcribe", language="en")
    assert _prompt_tokens(recognizer.model, "  Ffscribe, CTranslate2 ") == tokenizer.encode(
        " Ffscribe, CTranslate2"
    )
    assert _prompt_tokens(recognizer.model, [50, 60]) == [50, 60]
    assert _prompt_tokens(recognizer.model, None) == []


def _segment(i: int, text: str, no_speech: float) -> Segment:
    return Segment(id=i, seek=0, start=i, end=i + 1, text=text, no_speech_prob=no_speech)


def test_a_cut_tail_loses_its_filler_but_keeps_real_speech() -> None:
    real = (_segment(0, "Thou that art now the world's fresh ornament", 0.1),)
    tail = _segment(1, "To eat the world's due, by the grave and thee.", 0.7)
    filler = _segment(2, "the world's fresh ornament", 0.9)
    assert trim_cut_tail((*real, tail, filler), 0.6, -1.0) == (*real, tail)


def test_a_line_said_long_before_is_nofiller() -> None:
    line = _Seg("But if thou live, remember not to be, die single", 0.9, -0.4)
    long_ago = [_Seg(line.text, 0.1, -0.2)] + [
        _Seg(f"sentence number {i} of many", 0.1, -0.2) for i in range(40)
    ]
    assert not filler(line, long_ago, 0.6, -1.0)
    assert filler(line, long_ago[:1], 0.6, -1.0)


class _CountingEncoder:
    """The CTranslate2 model, counting encoder and decoder calls."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encodes = 0
        self.generates = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self.encodes += 1
        return self.model.encode(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.generates += 1
        return self.model.generate(*args, **kwargs)


def test_detecting_the_language_encodes_the_first_window_once() -> None:
    from faster_whisper import WhisperModel

    path = resolve_model("base").path  # multilingual: the language is detected
    ours = Recognizer(path, "base", ModelOptions(jobs=1))
    counter = _CountingEncoder(ours.model.model)
    ours.model.model = counter
    audio = media.load(str(MEDIA / "speech.wav"))  # one window
    result = ours.recognize(audio, DecodeOptions())
    assert counter.encodes == 1 and result.language == "en"
    bare = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)
    found, info = bare.transcribe(audio.samples, **_transcribe_kwargs(DecodeOptions()))
    assert [s.text for s in result.segments] == [s.text for s in found]  # same words as bare
    assert info.language == "en"


def test_default_workers_follow_the_device() -> None:
    from ffscribe.core.data.options import cpu_cores, default_jobs

    assert default_jobs("cuda") == 2
    assert default_jobs("cpu") == max(1, min(4, cpu_cores()))


def test_a_split_input_detects_its_language_as_the_whole_would(sentences: Audio) -> None:
    from faster_whisper import WhisperModel

    path = resolve_model("base").path  # multilingual: the language is detected
    samples = np.concatenate([sentences.samples] * 4)  # 78 s: two parts
    audio = Audio(samples=samples, offset=0.0, source_duration=None, path="x.wav")
    recognizer = Recognizer(path, "base", ModelOptions(jobs=2))
    counter = _CountingEncoder(recognizer.model.model)
    recognizer.model.model = counter
    ours = recognizer.recognize(audio, DecodeOptions())
    bare = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)
    _, info = bare.transcribe(samples, **_transcribe_kwargs(DecodeOptions()))  # detects now
    assert ours.language == info.language == "en"
    # Equal on the CPU this was written on; 1e-4 apart on another, where the features differ
    # in their last bit and the int8 encoder rounds a value the other way. A wrong window or
    # floor moves it by 1e-2 or more.
    assert ours.language_probability == pytest.approx(info.language_probability, abs=1e-3)
    # Detected by the first part's worker from the window it then decodes: one encoder
    # pass a decoded window (no temperature fallback here), none for the detection alone.
    assert counter.encodes == counter.generates
