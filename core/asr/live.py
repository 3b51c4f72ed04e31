"""Live transcription: a session fed 16 kHz audio as it arrives, committing words once stable.

The commit policy (docs/live.md): the buffer holds the current utterance; each step decodes it
(only where the voice detector hears speech) and commits the words two successive hypotheses
agree on (LocalAgreement-2); when the detector hears the utterance end, its last hypothesis is
committed whole and the buffer emptied; a long utterance is trimmed at its last committed
sentence end, so a step's work stays bounded however long the stream runs. The committed text
before the buffer is the prompt. A front end (the CLI, the service's WebSocket) feeds chunks
and renders the events; everything here runs on the caller's thread.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from ffscribe.core.data.transcript import (
    LiveRecord,
    ModelInfo,
    OptionsRecord,
    Segment,
    Source,
    Transcript,
    Word,
)

if TYPE_CHECKING:
    from ffscribe.core.asr.recognizer import Recognizer
    from ffscribe.core.data.options import DecodeOptions

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # Whisper's mel frames
WINDOW_SECONDS = 30  # what Whisper pads every window to
# Padding kept after a buffer's speech when its window is encoded short: 1 s made base repeat
# itself; 3-12 s read whole utterances as well as 30 s (BENCHMARKS.md, "Live, seventh session").
WINDOW_PAD = 5
# The least encoder window a step reads, seconds: 15 about halves base's step on a CPU against
# Whisper's own 30; with the buffer cut at sentence ends it read the tuning file as well as 20
# and 30 did (BENCHMARKS.md, "Live, ninth session").
WINDOW = 15
LEAST_WINDOW = 10  # seconds: the least --window offered (10 was the shortest measured)

# Whisper's word times come in 20 ms steps: two decodes placing words within 3 of each other
# placed the same onset. A joined word adds at least this many letters to the committed one.
SAME_ONSET = 0.06
LEAST_JOINED = 3
TOKENS_PER_SECOND = 8  # fast speech is about 5 tokens a second, timestamps included
VAD_PARAMETERS = {"min_silence_duration_ms": 100, "speech_pad_ms": 100}  # the session's own
# A pause is cut only this far (seconds) before the first uncommitted word's onset as Whisper
# times it: those onsets can come late, and a cut near one can clip the word (BENCHMARKS.md,
# "Live, eleventh session").
CUT_MARGIN = 0.2
# Speech, seconds, the language must be named from before a word commits ahead of its
# utterance's end: from a reading's first 2-3 s base named Spanish Catalan, and its first
# words were committed so (BENCHMARKS.md, "Live, eleventh session").
LANGUAGE_SPEECH = 3.0
_SENTENCE_END = re.compile("[.?!\u3002\uff1f\uff01\u2026]['\")\\]]*$")  # also CJK stops
_NOT_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class LiveOptions:
    """How often the session decodes and when it commits; seconds throughout."""

    step: float = 0.5  # new audio between two decodes (more arrives while one runs)
    min_speech: float = 1.0  # speech heard before an utterance is first decoded
    patience: float = 2.0  # a word with this much speech heard after it commits, agreed or not
    end_silence: float = 0.5  # a pause the voice detector hears this long ends an utterance
    trim_after: float = 6.0  # past this, the buffer drops what precedes its last committed pause
    sentence_cuts: bool = True  # ...or its last committed sentence end, paused or not
    max_buffer: float = 20.0  # past this, the hypothesis is committed whole (Whisper sees 30 s)
    max_segment: float = 10.0  # a committed segment is closed at this length, sentence or not
    prompt_chars: int = 200  # committed text given to the decoder as its prompt
    window: float = WINDOW  # the least encoder window, seconds (30 is Whisper's own)


@dataclass(frozen=True)
class Partial:
    """What is on screen for the open segment: `stable` words are committed, `tentative` may
    still change."""

    stable: str
    tentative: str


@dataclass(frozen=True)
class Committed:
    """A segment whose words are final; segments come in order and never overlap."""

    segment: Segment


@dataclass(frozen=True)
class Done:
    """The stream ended (or was stopped): every segment, as one Transcript."""

    transcript: Transcript


Event = Partial | Committed | Done


@dataclass(frozen=True)
class Hypothesis:
    """One decode of the buffer: its words (times from the buffer's start) and language,
    named from `language_speech` seconds of speech (infinite when it was given)."""

    words: tuple[Word, ...]
    language: str
    language_probability: float = 1.0
    language_speech: float = math.inf


class Decoder(Protocol):
    """Decodes a buffer of speech; `voiced` are its speech ranges (samples) to decode,
    `window` the least seconds of audio the model reads (LiveOptions.window), and `heard` the
    speech the session dropped before this buffer (at most one Whisper window), which the
    decoder may name the language from."""

    def decode(
        self,
        samples: npt.NDArray[np.float32],
        voiced: list[dict[str, int]],
        prompt: str,
        *,
        window: float = WINDOW,
        heard: npt.NDArray[np.float32] | None = None,
    ) -> Hypothesis: ...

    @property
    def info(self) -> ModelInfo: ...


# --- the policy, pure -----------------------------------------------------------------------


def normalized(word: str) -> str:
    """A word as agreement compares it: case, punctuation and spaces ignored."""
    return _NOT_WORD.sub("", word.lower())


def agreed(previous: Sequence[Word], current: Sequence[Word]) -> int:
    """How many leading words two successive hypotheses share (LocalAgreement-2)."""
    count = 0
    for a, b in zip(previous, current, strict=False):
        if normalized(a.word) != normalized(b.word):
            break
        count += 1
    return count


def fresh(hypothesis: Sequence[Word], committed: Sequence[Word], after: float) -> list[Word]:
    """The words of a hypothesis not committed yet: those ending after `after` (the last
    committed word's end), less a repeat of the last committed words at its head (Whisper
    re-hears a word that straddles the commit point), less the last committed word heard
    again in another form (see `heard_again`)."""
    words = [w for w in hypothesis if w.end > after + 0.05 or not w.word.strip()]
    words = [w for w in words if normalized(w.word)]
    for n in range(min(5, len(words), len(committed)), 0, -1):
        head = [normalized(w.word) for w in words[:n]]
        tail = [normalized(w.word) for w in committed[-n:]]
        if head == tail and words[0].start < after + 1.0:
            return words[n:]
    if words and committed:
        return [*heard_again(words[0], committed[-1]), *words[1:]]
    return words


def heard_again(word: Word, last: Word) -> list[Word]:
    """`word`, the first of a hypothesis's fresh words, less what `last` (the last committed
    word) already said when both begin at the same onset: Whisper re-heard the committed
    word, in another form ("remember" then "remembered", "Baos," then "BAUS,") or joined to
    the next one ("recht" then "rechtmemorable"). The form is dropped; a join keeps its new
    part ("memorable"). Words at different onsets are different words, however alike."""
    if abs(word.start - last.start) > SAME_ONSET:
        return [word]
    again, said = normalized(word.word), normalized(last.word)
    if not again.startswith(said) or len(again) - len(said) < LEAST_JOINED:
        return []
    text = word.word.strip()
    kept = 0  # characters of `text` that spell `said`, punctuation between them included
    for count, char in enumerate(text, 1):
        kept += bool(normalized(char))
        if kept == len(said):
            rest = text[count:].lstrip("-")
            return [replace(word, word=" " + rest, start=max(word.start, last.end))]
    return [word]


def anomalous(word: Word) -> bool:
    """Whether a word looks invented, by Whisper's own measure (openai-whisper's
    word_anomaly_score, behind its hallucination_silence_threshold): a probability under 0.15
    scores 1, a duration under 0.133 s up to 2, one over 2 s its excess; 1 or more is
    suspect. What Whisper writes past the end of speech ("para que se pueda hacer." at
    probabilities 0.03-0.18, the last three words 0 s long) scores so."""
    duration = word.end - word.start
    score = float(word.probability < 0.15)
    score += max(0.0, 0.133 - duration) * 15 + max(0.0, duration - 2.0)
    return score >= 1.0


def settled(words: Sequence[Word]) -> int:
    """How many of a hypothesis's words to commit when it is committed whole (the utterance
    or the stream ended, or the buffer is full): all but a tail of anomalous words."""
    count = len(words)
    while count and anomalous(words[count - 1]):
        count -= 1
    return count


def sentence_ends(word: str) -> bool:
    return bool(_SENTENCE_END.search(word.strip()))


def pause_cut(
    voiced: list[dict[str, int]], committed: Sequence[float], pending: float | None
) -> int | None:
    """Where a long buffer may be cut: the middle of its last pause (a gap between two of the
    voice detector's speech ranges) with a committed word before it and no uncommitted word
    before it, so every word on the cut's left is final and none is split. `committed` are
    the committed words' ends and `pending` the first uncommitted word's start, all in
    samples from the buffer's start; a cut keeps CUT_MARGIN before `pending`. None when no
    pause qualifies."""
    cut = None
    for before, after in pairwise(voiced):
        middle = (before["end"] + after["start"]) // 2
        if pending is not None and middle > pending - CUT_MARGIN * SAMPLE_RATE:
            break
        if any(end <= middle for end in committed):
            cut = middle
    return cut


def sentence_cut(committed: Sequence[Word], pending: Sequence[Word], since: float) -> float | None:
    """Where a long buffer without a pause may be cut: between the last committed word after
    `since` that ends a sentence and the word after it (committed or not), in the middle of
    the gap the word timings leave between them (at least 0.1 s: a cut into a word's onset
    loses it); seconds, None when no sentence end qualifies."""
    following = [*committed, *pending[:1]]
    for i in range(len(committed) - 1, -1, -1):  # the last qualifying one: from the end
        word = committed[i]
        if word.end <= since:
            return None
        after = following[i + 1] if i + 1 < len(following) else None
        if after is not None and sentence_ends(word.word) and after.start - word.end >= 0.1:
            return (word.end + after.start) / 2
    return None


def utterance_over(voiced: list[dict[str, int]], size: int, silence: int) -> bool:
    """Whether the buffer (`size` samples) ends in at least `silence` samples of no speech
    after some speech: the voice detector says the speaker paused."""
    return bool(voiced) and size - voiced[-1]["end"] >= silence


def repeats_prompt(text: str, prompt: str) -> bool:
    """Whether a decoded segment of three words or more is the prompt said again: Whisper,
    given a fragment of a buffer, can write the committed text back ("And here's some more
    words." three times over the end of a recording, BENCHMARKS.md "Live, eighth session").
    The batch's rule for filler (recover.said): nearly all its word pairs are the prompt's."""
    from ffscribe.core.asr.recover import plain_words, said

    return len(plain_words(text)) >= 3 and said(text, plain_words(prompt))


def prompt_text(committed: Sequence[Word], before: float, chars: int) -> str:
    """The committed text that ends before `before`, its last `chars` characters."""
    text = "".join(w.word for w in committed if w.end <= before).strip()
    return text[-chars:]


# --- the session ----------------------------------------------------------------------------


@dataclass
class _State:
    buffer: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    start: int = 0  # the buffer's first sample, counted from the stream's start
    undecoded: int = 0  # samples fed since the last decode
    total: int = 0  # samples fed in all
    words: list[Word] = field(default_factory=list)  # committed, in order
    open_from: int = 0  # index in `words` where the open segment starts
    pending: list[Word] = field(default_factory=list)  # the last hypothesis, uncommitted part
    segments: list[Segment] = field(default_factory=list)
    heard: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    language: str | None = None
    language_probability: float = 0.0


class LiveSession:
    """Turns a stream of 16 kHz mono float32 chunks into Partial and Committed events.

    Not thread-safe: one thread feeds it, and that thread runs the model (the session's one
    worker). Times in events are seconds from the first sample fed."""

    def __init__(
        self,
        decoder: Decoder,
        options: LiveOptions | None = None,
        *,
        source: Source | None = None,
        vad_parameters: dict[str, Any] | None = None,
    ) -> None:
        self.decoder = decoder
        self.options = options or LiveOptions()
        self.source = source or Source(kind="pipe", uri="-")
        self.vad_parameters = {**VAD_PARAMETERS, **(vad_parameters or {})}
        self.started = time.monotonic()
        self._s = _State()
        self._finished = False

    @property
    def committed_words(self) -> tuple[Word, ...]:
        return tuple(self._s.words)

    @property
    def fed_seconds(self) -> float:
        return self._s.total / SAMPLE_RATE

    def feed(self, samples: npt.NDArray[np.float32]) -> list[Event]:
        """Add audio; decode once a step of new audio has come (all of it, however much)."""
        s = self._s
        if samples.size:
            s.buffer = np.concatenate([s.buffer, samples.astype(np.float32, copy=False)])
            s.undecoded += samples.size
            s.total += samples.size
        if s.undecoded < self.options.step * SAMPLE_RATE:
            return []
        return self._step(final=False)

    def finish(self) -> list[Event]:
        """The stream ended: commit what the last decode hears, close the segment, Done."""
        if self._finished:
            return []
        events = self._step(final=True) if self._s.buffer.size else []
        events += self._close()
        self._finished = True
        return [*events, Done(self.transcript())]

    def transcript(self) -> Transcript:
        s = self._s
        return Transcript(
            input_path=self.source.uri,
            source=self.source,
            duration=s.total / SAMPLE_RATE,
            language=s.language or "",
            language_probability=s.language_probability,
            segments=tuple(s.segments),
            model=self.decoder.info,
            timings={"live": round(time.monotonic() - self.started, 3)},
            options=OptionsRecord(live=cast(LiveRecord, asdict(self.options))),
        )

    def _step(self, *, final: bool) -> list[Event]:
        from ffscribe.core.asr.split import speech_chunks

        s, o = self._s, self.options
        s.undecoded = 0
        voiced = speech_chunks(s.buffer, self.vad_parameters) if s.buffer.size else []
        if not voiced:  # silence: never decoded, so nothing is made up from it
            self._drop(max(0, s.buffer.size - int(0.5 * SAMPLE_RATE)), voiced)
            if not s.pending:
                return []
            s.pending = []
            return [self._partial()]
        over = final or utterance_over(voiced, s.buffer.size, int(o.end_silence * SAMPLE_RATE))
        heard = sum(r["end"] - r["start"] for r in voiced)
        if not over and heard < o.min_speech * SAMPLE_RATE:
            return []  # a word's first syllable: Whisper would guess from the prompt
        offset = s.start / SAMPLE_RATE
        prompt = prompt_text(s.words, offset, o.prompt_chars)
        hypothesis = self.decoder.decode(
            s.buffer, voiced, prompt, window=o.window, heard=s.heard if s.heard.size else None
        )
        if hypothesis.words:  # the latest naming has heard the most speech
            s.language, s.language_probability = (
                hypothesis.language,
                hypothesis.language_probability,
            )
        words = [_shifted(w, offset) for w in hypothesis.words]
        last_end = s.words[-1].end if s.words else 0.0
        new = fresh(words, s.words, last_end)
        long = s.buffer.size >= o.max_buffer * SAMPLE_RATE
        unsure = hypothesis.language_speech < LANGUAGE_SPEECH  # the words may be another's
        count = settled(new) if over or long else 0 if unsure else agreed(s.pending, new)
        heard_until = offset + voiced[-1]["end"] / SAMPLE_RATE
        while not unsure and count < len(new) and new[count].end <= heard_until - o.patience:
            count += 1  # heard with this much speech after it, twice or not: final
        events = self._commit(new[:count])
        s.pending = [] if over else new[count:]  # an ended utterance's invented tail is gone
        if over:
            events += self._close()
            self._drop(voiced[-1]["end"], voiced)
        elif long:  # all committed: keep only what follows the last word (or the last second)
            end = s.words[-1].end - offset if s.words else 0.0
            self._drop(max(int(end * SAMPLE_RATE), s.buffer.size - SAMPLE_RATE), voiced)
        elif s.buffer.size >= o.trim_after * SAMPLE_RATE:
            ends = [(w.end - offset) * SAMPLE_RATE for w in s.words if w.end > offset]
            first = (s.pending[0].start - offset) * SAMPLE_RATE if s.pending else None
            cut = pause_cut(voiced, ends, first)
            if o.sentence_cuts:
                said = sentence_cut(s.words, s.pending, offset)
                if said is not None:
                    cut = max(cut or 0, int((said - offset) * SAMPLE_RATE))
            if cut is not None:
                self._drop(cut, voiced)
        events.append(self._partial())
        return events

    def _commit(self, words: Sequence[Word]) -> list[Event]:
        """Commit `words`; close the open segment at a sentence end or at max_segment."""
        s = self._s
        events: list[Event] = []
        for word in words:
            s.words.append(word)
            opened = s.words[s.open_from].start
            if sentence_ends(word.word) or word.end - opened >= self.options.max_segment:
                events += self._close()
        return events

    def _close(self) -> list[Event]:
        s = self._s
        words = tuple(s.words[s.open_from :])
        if not words:
            return []
        s.open_from = len(s.words)
        text = "".join(w.word for w in words)
        if not text.startswith(" "):
            text = " " + text
        segment = Segment(
            id=len(s.segments),
            start=words[0].start,
            end=words[-1].end,
            text=text,
            avg_logprob=float(np.mean([np.log(max(w.probability, 1e-6)) for w in words])),
            words=words,
        )
        s.segments.append(segment)
        return [Committed(segment)]

    def _drop(self, samples: int, voiced: list[dict[str, int]]) -> None:
        """Forget the buffer's first `samples` (already committed or silent), keeping their
        speech (`voiced`: the buffer's speech ranges) for the language until one Whisper
        window of it has been heard."""
        from ffscribe.core.asr.split import collected

        s = self._s
        samples = min(max(samples, 0), s.buffer.size)
        room = WINDOW_SECONDS * SAMPLE_RATE - s.heard.size
        if room > 0 and samples:
            spans = [
                {"start": r["start"], "end": min(r["end"], samples)}
                for r in voiced
                if r["start"] < samples
            ]
            if spans:
                speech = collected(s.buffer[:samples], spans)[:room]
                s.heard = np.concatenate([s.heard, speech])
        s.buffer = s.buffer[samples:].copy()
        s.start += samples

    def _partial(self) -> Partial:
        s = self._s
        stable = "".join(w.word for w in s.words[s.open_from :]).strip()
        return Partial(stable, "".join(w.word for w in s.pending).strip())


def window_frames(samples: int, least: float) -> int | None:
    """The mel frames to encode for `samples` of speech: the speech and WINDOW_PAD seconds of
    Whisper's padding after it, in whole seconds, at least `least` seconds; None for Whisper's
    full window (what it pads everything to)."""
    seconds = max(math.ceil(least), math.ceil(samples / SAMPLE_RATE + WINDOW_PAD))
    return FRAMES_PER_SECOND * seconds if seconds < WINDOW_SECONDS else None


def _shifted(word: Word, seconds: float) -> Word:
    return replace(word, start=round(word.start + seconds, 3), end=round(word.end + seconds, 3))


class WhisperDecoder:
    """A Decoder over the project's Recognizer: only the voiced ranges are decoded (as the
    batch VAD filter does), greedy or beam as DecodeOptions say, words timed."""

    def __init__(self, recognizer: Recognizer, options: DecodeOptions) -> None:
        from ffscribe.core.asr.recognizer import _transcribe_kwargs

        self.recognizer = recognizer
        kwargs = _transcribe_kwargs(options)
        kwargs.update(
            word_timestamps=True,
            vad_filter=False,  # the session's detector chose the speech already
            vad_parameters=None,
            # The prompt is the committed text; Whisper's own conditioning would carry the
            # last hypothesis, wrong or not, into the next window.
            condition_on_previous_text=False,
        )
        self.kwargs = kwargs
        # Whisper's own test for a looping decode (gzip ratio); its looped text never commits.
        self.repetitive = options.compression_ratio_threshold or math.inf
        self.language: str | None = options.language  # given, or named from a full window
        # (speech dropped, the language named from it and the buffer's, seconds named from)
        self._named: tuple[int, str, float] | None = None

    @property
    def info(self) -> ModelInfo:
        return self.recognizer.info

    def decode(
        self,
        samples: npt.NDArray[np.float32],
        voiced: list[dict[str, int]],
        prompt: str,
        *,
        window: float = WINDOW,
        heard: npt.NDArray[np.float32] | None = None,
    ) -> Hypothesis:
        from faster_whisper.transcribe import restore_speech_timestamps

        from ffscribe.core.asr.split import collected
        from ffscribe.core.asr.workarounds import encoder_window

        kwargs = dict(self.kwargs)
        speech = collected(samples, voiced)
        language, named_from = self._language(heard, speech, window)
        if language:
            kwargs["language"] = language
        if prompt:
            kwargs["initial_prompt"] = prompt
        # A looping decode stops early; a window far past speech's pace is a loop.
        pace = 16 + math.ceil(TOKENS_PER_SECOND * speech.size / SAMPLE_RATE)
        kwargs["max_new_tokens"] = min(pace, 220)  # prompt (<= 223) + these <= Whisper's 448
        with encoder_window(window_frames(speech.size, window)):
            found, info = self.recognizer.model.transcribe(speech, **kwargs)
            segments = [
                s
                for s in restore_speech_timestamps(found, voiced, SAMPLE_RATE)
                if s.compression_ratio <= self.repetitive and not repeats_prompt(s.text, prompt)
            ]
        words = tuple(
            Word(
                start=float(w.start),
                end=float(w.end),
                word=str(w.word),
                probability=round(float(w.probability), 4),
            )
            for segment in segments
            for w in segment.words or ()
        )
        return Hypothesis(words, str(info.language), float(info.language_probability), named_from)

    def _language(
        self, heard: npt.NDArray[np.float32] | None, speech: npt.NDArray[np.float32], window: float
    ) -> tuple[str | None, float]:
        """The language named from the session's speech so far, as the batch names it from
        an input's first window of speech, and the seconds of speech it was named from
        (infinite when given, kept for good, or the model knows one): None (this decode names
        it from its own speech, at no extra encode) until the session has dropped speech; then
        from what it dropped and this buffer's speech, once each time the dropped speech grows
        (an encoder pass), and kept for good once a full window of speech has been heard.
        Named from the first second of an utterance, a Spanish reading came out Catalan to its
        end."""
        from ffscribe.core.asr.workarounds import encoder_window

        if self.language or not self.recognizer.multilingual:
            return self.language, math.inf
        if heard is None or not heard.size:
            return None, speech.size / SAMPLE_RATE
        if self._named is None or self._named[0] != heard.size:
            model = self.recognizer.model
            both = np.concatenate([heard, speech])[: WINDOW_SECONDS * SAMPLE_RATE]
            with encoder_window(window_frames(both.size, window)):
                language, _, _ = model.detect_language(features=model.feature_extractor(both))
            self._named = (heard.size, str(language), both.size / SAMPLE_RATE)
            if both.size >= WINDOW_SECONDS * SAMPLE_RATE:
                self.language = str(language)
        return self._named[1], self._named[2]
