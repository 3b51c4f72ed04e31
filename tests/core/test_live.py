"""The live session: the commit policy's pure rules, the session over a scripted decoder (the
cases a real model cannot be made to produce on cue), and the real tiny.en model on fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import pytest

from ffscribe.core.asr.live import (
    LANGUAGE_SPEECH,
    SAMPLE_RATE,
    WINDOW_SECONDS,
    Committed,
    Done,
    Event,
    Hypothesis,
    LiveOptions,
    LiveSession,
    Partial,
    agreed,
    anomalous,
    fresh,
    heard_again,
    normalized,
    pause_cut,
    prompt_text,
    repeats_prompt,
    sentence_cut,
    sentence_ends,
    settled,
    utterance_over,
    window_frames,
)
from ffscribe.core.data.transcript import ModelInfo, Word
from tests.conftest import MEDIA, TEST_MODEL


def w(text: str, start: float, end: float) -> Word:
    return Word(start=start, end=end, word=text, probability=0.9)


def test_agreement_is_the_common_prefix_ignoring_case_and_punctuation() -> None:
    before = [w(" Hello", 0, 1), w(" world,", 1, 2), w(" this", 2, 3)]
    after = [w(" hello", 0, 1), w(" world", 1, 2), w(" is", 2, 3), w(" it", 3, 4)]
    assert agreed(before, after) == 2
    assert agreed([], after) == 0
    assert normalized(" Don't!") == "don't"


def test_fresh_drops_committed_words_and_a_repeat_at_the_head() -> None:
    committed = [w(" the", 0, 0.5), w(" quick", 0.5, 1.0)]
    hypothesis = [w(" the", 0, 0.5), w(" quick", 0.5, 1.0), w(" brown", 1.0, 1.5)]
    assert [x.word for x in fresh(hypothesis, committed, 1.0)] == [" brown"]
    # Whisper re-times the straddling word a little later: still not committed twice.
    retimed = [w(" quick", 0.9, 1.2), w(" brown", 1.2, 1.6)]
    assert [x.word for x in fresh(retimed, committed, 1.0)] == [" brown"]


def test_the_last_committed_word_heard_again_at_its_onset_is_not_committed_twice() -> None:
    # Cases seen on the corpus (core/asr/live.py, heard_again): another form of the word...
    assert heard_again(w(" remembered", 152.88, 153.32), w(" remember", 152.88, 153.26)) == []
    assert heard_again(w(" BAUS,", 1.92, 2.32), w(" Baos,", 1.92, 2.26)) == []
    # ...or the word joined to the next one: its new part is kept, from the committed end.
    (joined,) = heard_again(w(" rechtmemorable", 18.07, 19.05), w(" recht", 18.05, 18.37))
    assert (joined.word, joined.start, joined.end) == (" memorable", 18.37, 19.05)
    (hyphen,) = heard_again(w(" self-made", 4.0, 4.6), w(" self", 4.02, 4.3))
    assert hyphen.word == " made"
    # A word at another onset is another word, however much it overlaps in time.
    after = w(" en", 13.58, 13.90)
    assert heard_again(after, w(" caniculares", 12.97, 13.77)) == [after]
    committed = [w(" unerdichtete", 17.2, 17.9), w(" und", 17.9, 18.05), w(" recht", 18.05, 18.37)]
    hypothesis = [w(" und", 17.9, 18.05), w(" rechtmemorable", 18.07, 19.05), w(" Leben", 19, 20)]
    assert [x.word for x in fresh(hypothesis, committed, 18.37)] == [" memorable", " Leben"]


def test_an_invented_tail_is_not_committed_with_its_utterance() -> None:
    # What base wrote after the last word of a Spanish reading: low probabilities, 0 s words.
    said = [
        w(" bondados", 1.78, 2.14),
        w(" a", 2.14, 2.28),
        Word(start=2.28, end=2.68, word=" palabras.", probability=0.19),
    ]
    invented = [
        Word(start=2.68, end=2.78, word=" para", probability=0.03),
        Word(start=2.92, end=2.94, word=" se", probability=0.18),
        Word(start=2.94, end=2.94, word=" hacer.", probability=0.07),
    ]
    assert not any(anomalous(x) for x in said) and all(anomalous(x) for x in invented)
    assert settled([*said, *invented]) == 3
    assert settled([*invented[:1], *said]) == 4  # only a tail: the rest was heard after it
    assert not anomalous(w(" y", 0.0, 0.1))  # a short word said clearly is no invention


def test_a_long_buffer_is_cut_in_its_last_pause_with_only_committed_words_before_it() -> None:
    ranges = [(0, 16000), (24000, 40000), (48000, 64000)]  # pauses at 1-1.5 s and 2.5-3 s
    voiced = [{"start": a, "end": b} for a, b in ranges]
    # Committed words end at 0.9 s and 2.4 s; the first uncommitted one starts at 3.1 s.
    assert pause_cut(voiced, [14400, 38400], 49600) == 44000  # the middle of the 2.5-3 s pause
    # An uncommitted word before the second pause: the cut stays in the first.
    assert pause_cut(voiced, [14400], 25600) == 20000
    # One Whisper times 0.1 s after the second pause's middle: its onset may be late, so a
    # cut there could clip it; the cut stays in the first.
    assert pause_cut(voiced, [14400, 38400], 44000 + 1600) == 20000
    # Nothing committed yet, or no pause at all: no cut.
    assert pause_cut(voiced, [], 25600) is None
    assert pause_cut(voiced[:1], [14400], None) is None
    assert sentence_ends(" end?") and sentence_ends(' "Stop."') and not sentence_ends(" no")


def test_a_long_buffer_without_a_pause_is_cut_between_sentences() -> None:
    committed = [w(" Fast", 1.0, 1.4), w(" here.", 1.4, 1.8), w(" Nothing", 2.0, 2.3)]
    pending = [w(" going.", 2.3, 2.6), w(" We", 2.9, 3.0)]
    assert sentence_cut(committed, pending, 0.0) == pytest.approx(1.9)  # the 1.8-2.0 s gap
    # Before the buffer's start, or with no gap left by the timings: no cut there.
    assert sentence_cut(committed, pending, 2.0) is None
    joined = [w(" Fast", 1.0, 1.4), w(" here.", 1.4, 1.8), w(" Nothing", 1.85, 2.3)]
    assert sentence_cut(joined, pending, 0.0) is None
    # Only committed sentence ends: "going." is not final yet.
    assert sentence_cut(committed[:1], [w(" here.", 1.4, 1.8), w(" Nothing", 2.0, 2.3)], 0) is None
    # The last committed word may end the sentence, the next word still pending.
    assert sentence_cut(committed[:2], [w(" Nothing", 1.85, 2.3)], 0.0) is None
    assert sentence_cut(committed[:2], [w(" Nothing", 2.2, 2.4)], 0.0) == pytest.approx(2.0)


def test_a_segment_that_says_the_prompt_again_is_a_repeat() -> None:
    prompt = "We're just saying some words. And here's some more words. Words, words."
    assert repeats_prompt(" And here's some more words.", prompt)
    assert not repeats_prompt(" And that should be all.", prompt)
    assert not repeats_prompt(" Words.", prompt)  # under three words: too little to judge
    assert not repeats_prompt(" And here's some more words.", "")


def test_the_encoder_window_keeps_padding_after_the_speech_and_never_exceeds_30_s() -> None:
    assert window_frames(SAMPLE_RATE, 30) is None  # Whisper's full window
    assert window_frames(SAMPLE_RATE, 15) == 1500  # the least asked for (--window 15)
    assert window_frames(int(12.5 * SAMPLE_RATE), 10) == 1800  # 12.5 s + 5 s, whole seconds
    assert window_frames(26 * SAMPLE_RATE, 10) is None


def test_utterance_over_needs_speech_then_a_long_enough_pause() -> None:
    assert utterance_over([{"start": 0, "end": 8000}], 16000, 8000)
    assert not utterance_over([{"start": 0, "end": 9000}], 16000, 8000)
    assert not utterance_over([], 16000, 8000)


def test_prompt_is_the_committed_text_before_the_buffer() -> None:
    words = [w(" one", 0, 1), w(" two", 1, 2), w(" three", 2, 3)]
    assert prompt_text(words, 2.0, 200) == "one two"
    assert prompt_text(words, 9.0, 5) == " three"[-5:]


class Scripted:
    """A Decoder that answers each call with the next scripted word list."""

    info = ModelInfo(name="scripted", device="cpu", compute_type="int8")

    def __init__(self, answers: list[list[Word]], language_speech: float = np.inf) -> None:
        self.answers = answers
        self.language_speech = language_speech  # what each hypothesis says it was named from
        self.calls = 0
        self.heard: list[int] = []  # samples of dropped speech each call was given

    def decode(
        self,
        samples: npt.NDArray[np.float32],
        voiced: list[dict[str, int]],
        prompt: str,
        *,
        window: float = 30,
        heard: np.ndarray | None = None,
    ) -> Hypothesis:
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        self.heard.append(0 if heard is None else heard.size)
        return Hypothesis(tuple(answer), "en", language_speech=self.language_speech)


def _speech() -> npt.NDArray[np.float32]:
    from ffscribe.core.media.ffmpeg import load

    return load(str(MEDIA / "long_speech.wav")).samples


Samples = npt.NDArray[np.float32]


def _chunks(samples: Samples, size: int = 1600) -> Iterator[Samples]:
    for i in range(0, samples.size, size):
        yield samples[i : i + size]


def _committed(events: list[Event]) -> list[str]:
    return [e.segment.text.strip() for e in events if isinstance(e, Committed)]


def test_words_commit_only_when_two_hypotheses_agree() -> None:
    speech = _speech()[: 3 * SAMPLE_RATE]  # "Good morning everyone, and welcome..." no pause
    decoder = Scripted(
        [
            [w(" Good", 0.1, 0.3), w(" mourning", 0.3, 0.8)],
            [w(" Good", 0.1, 0.3), w(" morning", 0.3, 0.8), w(" every", 0.8, 1.2)],
            [w(" Good", 0.1, 0.3), w(" morning", 0.3, 0.8), w(" everyone", 0.8, 1.3)],
        ]
    )
    session = LiveSession(decoder, LiveOptions(step=1.0))
    partials = [e for c in _chunks(speech[: 2 * SAMPLE_RATE]) for e in session.feed(c)]
    partials = [e for e in partials if isinstance(e, Partial)]
    assert partials[0] == Partial("", "Good mourning")
    assert partials[1] == Partial("Good", "morning every")  # "Good" agreed; the rest may change
    assert [x.word for x in session.committed_words] == [" Good"]


def test_words_wait_for_a_language_named_from_enough_speech() -> None:
    # Named from 1-3 s of speech, Whisper called a Spanish reading Catalan; its words agreed
    # and were committed in Catalan. Named from too little speech, neither agreement nor
    # patience commits a word before its utterance ends; named from enough, the same does.
    speech = _speech()[: 3 * SAMPLE_RATE]  # "Good morning everyone, and welcome..." no pause
    answer = [w(" Good", 0.1, 0.3), w(" morning", 0.3, 0.8)]
    for named_from, early in (
        (LANGUAGE_SPEECH - 0.5, []),
        (LANGUAGE_SPEECH, [" Good", " morning"]),
    ):
        decoder = Scripted([answer], language_speech=named_from)
        session = LiveSession(decoder, LiveOptions(step=1.0))
        for chunk in _chunks(speech):
            session.feed(chunk)
        assert decoder.calls >= 2
        assert [x.word for x in session.committed_words] == early, named_from
        assert _committed(session.finish()) == ["Good morning"]


def test_the_end_of_the_stream_commits_what_was_said_not_what_was_invented_after_it() -> None:
    speech = _speech()[: 2 * SAMPLE_RATE]
    invented = Word(start=1.9, end=1.9, word=" Thanks.", probability=0.05)
    decoder = Scripted([[w(" Good", 0.1, 0.3), w(" morning", 0.3, 0.8), invented]])
    session = LiveSession(decoder, LiveOptions(step=5.0))  # one decode: at the end
    for chunk in _chunks(speech):
        session.feed(chunk)
    events = session.finish()
    assert decoder.calls == 1
    assert _committed(events) == ["Good morning"]
    assert isinstance(events[-1], Done) and events[-1].transcript.text.strip() == "Good morning"


def test_silence_is_never_decoded_and_commits_nothing() -> None:
    decoder = Scripted([[w(" You", 0.0, 1.0)]])  # what Whisper says to silence
    session = LiveSession(decoder)
    events = [e for c in _chunks(np.zeros(10 * SAMPLE_RATE, np.float32)) for e in session.feed(c)]
    events += session.finish()
    assert decoder.calls == 0
    assert not _committed(events)
    assert isinstance(events[-1], Done) and events[-1].transcript.segments == ()


def test_the_decoder_is_given_the_speech_dropped_before_its_buffer_up_to_a_window() -> None:
    # The language is named from the session's speech as the batch names it from an input's
    # first window: each utterance ends in a pause, is committed and dropped, and its speech
    # (not its pauses) goes with every later decode until 30 s of it have been heard.
    speech = _speech()
    decoder = Scripted([[w(" Words.", 0.1, 0.5)]])
    session = LiveSession(decoder, LiveOptions(step=1.0))
    for chunk in _chunks(speech):
        session.feed(chunk)
    session.finish()
    heard = decoder.heard
    assert heard[0] == 0 and heard == sorted(heard), heard
    assert len(set(heard)) > 3  # it grew utterance by utterance
    assert 0 < max(heard) <= min(WINDOW_SECONDS * SAMPLE_RATE, session._s.start)
    # Silence dropped after it adds nothing: a step that decodes nothing keeps nothing (the
    # ranges of an earlier decode no longer fit the buffer).
    decoder = Scripted([[w(" Words.", 0.1, 0.5)]])
    session = LiveSession(decoder, LiveOptions(step=1.0))
    fed = np.concatenate([speech[: 6 * SAMPLE_RATE], np.zeros(7 * SAMPLE_RATE, np.float32)])
    for chunk in _chunks(fed):
        calls, kept = decoder.calls, session._s.heard.size
        session.feed(chunk)
        assert session._s.heard.size == kept or decoder.calls > calls
    assert session._s.heard.size > 0


def test_the_buffer_stays_bounded_over_a_long_stream() -> None:
    # Speech with no pause long enough to end an utterance, and a decoder that never ends a
    # sentence: only the hard limit can trim. Two minutes fed; the buffer never outgrows it.
    options = LiveOptions(step=1.0, max_buffer=10.0)
    rng = np.random.default_rng(3)
    clip = _speech()[int(16.2 * SAMPLE_RATE) : int(19.4 * SAMPLE_RATE)]
    largest = 0
    decoder = Scripted([[w(" la", 0.0, 0.2), w(" la", 0.2, 0.4)]])
    session = LiveSession(decoder, options)
    for _ in range(40):
        for chunk in _chunks(clip * np.float32(rng.uniform(0.8, 1.0))):
            session.feed(chunk)
            largest = max(largest, session._s.buffer.size)
    assert session.fed_seconds > 120
    assert largest <= (options.max_buffer + options.step + 0.2) * SAMPLE_RATE


@pytest.fixture(scope="module")
def decoder() -> Iterator[object]:
    from ffscribe.core.asr.live import WhisperDecoder
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions

    decode = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,))
    pipeline = Pipeline(PipelineOptions(model=ModelOptions(name=TEST_MODEL, jobs=1), decode=decode))
    yield WhisperDecoder(pipeline.recognizer, decode)


def test_real_model_commits_every_sentence_once_in_order(decoder: object) -> None:
    # Two-second steps: half the decodes of the default (this machine's two cores are shared).
    session = LiveSession(decoder, LiveOptions(step=2.0))  # type: ignore[arg-type]
    events = [e for c in _chunks(_speech()) for e in session.feed(c)] + session.finish()
    words = [normalized(x.word) for x in session.committed_words]
    for name in ("morning", "welcome", "meeting", "weather", "paris", "umbrella", "elephant"):
        assert words.count(name) == (2 if name == "morning" else 1), words
    known = ["welcome", "meeting", "today", "weather", "paris", "remember", "finally", "roof"]
    assert [x for x in words if x in known] == known
    done = events[-1]
    assert isinstance(done, Done)
    segments = done.transcript.segments
    assert [s.text.strip() for s in segments] == _committed(events)
    assert all(a.end <= b.start for a, b in pairwise(segments))
    assert all(s.words[0].start >= s.start and s.words[-1].end <= s.end for s in segments)
    assert segments[0].start >= 0.0 and segments[-1].end <= done.transcript.duration


def test_the_decoder_says_how_much_speech_it_named_the_language_from() -> None:
    from dataclasses import replace

    from ffscribe.core.asr.live import WhisperDecoder
    from ffscribe.core.asr.split import speech_chunks
    from ffscribe.core.data.options import DecodeOptions, ModelOptions
    from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions

    decode = DecodeOptions(beam_size=1, best_of=1, temperatures=(0.0,))
    pipeline = Pipeline(PipelineOptions(model=ModelOptions(name="base", jobs=1), decode=decode))
    speech = _speech()[: 2 * SAMPLE_RATE]
    voiced = speech_chunks(speech, {})
    heard = sum(r["end"] - r["start"] for r in voiced) / SAMPLE_RATE
    named = WhisperDecoder(pipeline.recognizer, decode).decode(speech, voiced, "")
    # Which language 2 s of espeak are named (en at 0.54 here) is not this test's business.
    assert named.language_speech == pytest.approx(heard, abs=0.01)  # its own speech, no more
    given = WhisperDecoder(pipeline.recognizer, replace(decode, language="en"))
    assert given.decode(speech, voiced, "").language_speech == np.inf


def test_real_model_on_silence_commits_nothing(decoder: object) -> None:
    from ffscribe.core.media.ffmpeg import load

    session = LiveSession(decoder)  # type: ignore[arg-type]
    samples = load(str(MEDIA / "silence.wav")).samples
    events = [e for c in _chunks(samples) for e in session.feed(c)] + session.finish()
    assert not _committed(events)


def test_the_encoder_reads_only_the_window_it_is_given(decoder: object) -> None:
    from ffscribe.core.asr.workarounds import encoder_window

    model = decoder.recognizer.model  # type: ignore[attr-defined]
    features = np.zeros((model.feature_extractor.mel_filters.shape[0], 3000), np.float32)
    with encoder_window(1000):
        assert model.encode(features).shape[1] == 500  # two frames per encoder position
    assert model.encode(features).shape[1] == 1500  # outside, Whisper's full 30 s
