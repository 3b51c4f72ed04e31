"""Every language in an input: Whisper's detector over the regions between pauses, a switch
rule that asks for evidence before the language changes, and each language's share.

Whisper detects the language once, from the first 30 s, and decodes everything after in it:
a French-then-English recording comes out all French, the English translated. Here the
decoder's own windows are watched (one decoder step each, on the encoder output it computes
anyway); only when one of them is clearly in another language, or unsure of its own, are the
regions under it (and, after a switch, all those after it) detected one by one, an encoder
pass each, and each run of same-language regions decoded with its language fixed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ffscribe.core.data.transcript import LanguageShare, LanguageWindow, Segment

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 30 * SAMPLE_RATE  # what Whisper's detector hears of a region
# Regions are the speech between pauses of this length: sentence breaks in read speech.
REGION_PAUSE_MS = 500
MIN_DETECT_SECONDS = 1.0  # a region shorter than this is not asked: it inherits
TOP_LANGUAGES = 5  # the detector's answers kept per region, most likely first
BATCH = 8  # regions encoded in one call: fewer, fuller calls on a GPU


@dataclass(frozen=True)
class SwitchRule:
    """When a region may change the running language: its detection names another language
    with at least `probability`, over at least `seconds` of speech (a name or a loanword
    is shorter). Set before the tuning mixtures were measured, and kept (BENCHMARKS.md)."""

    probability: float = 0.5
    seconds: float = 2.0
    # A decoded window this sure of another language sends the input region by region; one
    # less sure than `doubt` of the expected language, or with one other language at `rival`
    # or more (a window holding two languages), has it checked region by region after.
    screen: float = 0.5
    doubt: float = 0.7
    rival: float = 0.1


@dataclass
class Tally:
    """What finding the languages cost one decode, for the --debug log: decoded windows
    screened (one detector step each, on the decode's own encoder output), those that left
    doubt, and pieces detected on their own (an encoder pass each, BATCH to a call)."""

    windows: int = 0
    doubted: int = 0
    screen_seconds: float = 0.0
    pieces: int = 0
    encoder_calls: int = 0
    detect_seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.windows} windows screened ({self.doubted} in doubt, "
            f"{self.screen_seconds:.2f} s), {self.pieces} pieces detected in "
            f"{self.encoder_calls} encoder calls ({self.detect_seconds:.2f} s)"
        )


@dataclass(frozen=True)
class Detection:
    """What Whisper's detector says of one stretch: its likeliest languages, best first."""

    probabilities: tuple[tuple[str, float], ...]

    @property
    def language(self) -> str:
        return self.probabilities[0][0]

    @property
    def probability(self) -> float:
        return self.probabilities[0][1]

    def of(self, language: str) -> float:
        return next((p for code, p in self.probabilities if code == language), 0.0)


@dataclass(frozen=True)
class Region:
    """Speech between two pauses, in samples of its input, and what the detector said of
    it (None: too short to ask)."""

    start: int
    end: int
    detection: Detection | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / SAMPLE_RATE


@dataclass(frozen=True)
class Run:
    """Consecutive regions of one language, cut in the middle of the pauses around them,
    decoded together with that language fixed."""

    start: int
    end: int
    language: str
    probability: float


def choose(regions: Sequence[Region], running: str | None, rule: SwitchRule) -> list[str]:
    """The language of each region. Long regions (rule.seconds or more, detected) keep the
    running language (from `running`, else the first long region's) unless their detection
    is for another one with rule.probability or more; the others take their neighbours':
    the one before and the one after, when they differ, whichever their own detection
    prefers. Pure: no model."""
    long = [i for i, r in enumerate(regions) if r.detection and r.seconds >= rule.seconds]
    chosen: dict[int, str] = {}
    for i in long:
        found = regions[i].detection
        assert found is not None
        if running is None or (found.language != running and found.probability >= rule.probability):
            running = found.language
        chosen[i] = running
    if running is None:  # nothing long enough: the likeliest language over all the speech
        running = _likeliest(regions) or "en"
    out: list[str] = []
    for i, region in enumerate(regions):
        if i in chosen:
            out.append(chosen[i])
            continue
        before = next((chosen[j] for j in reversed(long) if j < i), None)
        after = next((chosen[j] for j in long if j > i), None)
        options = [lang for lang in (before, after) if lang is not None] or [running]
        found = region.detection
        best = max(options, key=found.of) if found and len(set(options)) > 1 else options[0]
        out.append(best)
    return out


def _likeliest(regions: Sequence[Region]) -> str | None:
    weight: dict[str, float] = {}
    for r in regions:
        if r.detection:
            for code, p in r.detection.probabilities:
                weight[code] = weight.get(code, 0.0) + p * r.seconds
    return max(weight, key=weight.__getitem__) if weight else None


def runs(regions: Sequence[Region], languages: Sequence[str], total: int) -> list[Run]:
    """Consecutive regions of one language as Runs covering [0, total): each cut in the
    middle of the pause between its last region and the next run's first. The probability
    is the run's language's, averaged over its detected regions by their length."""
    out: list[Run] = []
    start = 0
    for i, region in enumerate(regions):
        language = languages[i]
        last = i + 1 == len(regions) or languages[i + 1] != language
        if not last:
            continue
        end = total if i + 1 == len(regions) else (region.end + regions[i + 1].start) // 2
        members = [r for r, lang in zip(regions, languages, strict=True) if start <= r.start < end]
        out.append(Run(start, end, language, _probability(members, language)))
        start = end
    return out or [Run(0, total, languages[0] if languages else "en", 0.0)]


def _probability(regions: Sequence[Region], language: str) -> float:
    heard = [(r.detection.of(language), r.seconds) for r in regions if r.detection]
    seconds = sum(s for _, s in heard)
    return round(sum(p * s for p, s in heard) / seconds, 4) if seconds else 0.0


def find_regions(samples: Any) -> list[tuple[int, int]]:
    """The speech of `samples` between pauses of REGION_PAUSE_MS, as sample ranges."""
    from ffscribe.core.asr.split import speech_chunks

    options = {"min_silence_duration_ms": REGION_PAUSE_MS, "speech_pad_ms": 100}
    return [(int(c["start"]), int(c["end"])) for c in speech_chunks(samples, options)]


def detect(model: Any, pieces: Sequence[Any], tally: Tally | None = None) -> list[Detection]:
    """Whisper's detector on each piece of audio (its first 30 s), a few pieces a batch."""
    import numpy as np
    from faster_whisper.audio import pad_or_trim

    extractor = model.feature_extractor
    out: list[Detection] = []
    began = time.perf_counter()
    for first in range(0, len(pieces), BATCH):
        batch = [
            pad_or_trim(extractor(p[:WINDOW_SAMPLES])[:, :-1])
            for p in pieces[first : first + BATCH]
        ]
        encoded = model.encode(np.stack(batch))
        out.extend(_detections(model, encoded))
        if tally is not None:
            tally.encoder_calls += 1
    if tally is not None:
        tally.pieces += len(pieces)
        tally.detect_seconds += time.perf_counter() - began
    return out


def _detections(model: Any, encoded: Any) -> list[Detection]:
    return [
        Detection(tuple((token[2:-2], round(float(p), 4)) for token, p in found[:TOP_LANGUAGES]))
        for found in model.model.detect_language(encoded)
    ]


def detect_regions(
    model: Any,
    samples: Any,
    spans: Sequence[tuple[int, int]],
    tally: Tally | None = None,
    known: Sequence[Detection | None] | None = None,
) -> list[Region]:
    """Regions of `samples` at `spans`, each long enough one with its detection: `known`'s
    where it has one (what the decode's own window said), else the detector's on it."""
    given = list(known) if known is not None else [None] * len(spans)
    asked = [
        i
        for i, (a, b) in enumerate(spans)
        if given[i] is None and b - a >= MIN_DETECT_SECONDS * SAMPLE_RATE
    ]
    pieces = [samples[a:b] for a, b in (spans[i] for i in asked)]
    found = dict(zip(asked, detect(model, pieces, tally), strict=True))
    return [Region(a, b, found.get(i) or given[i]) for i, (a, b) in enumerate(spans)]


class SwitchHeard(Exception):
    """A decoded window is clearly in another language: decode region by region instead."""


_screen = threading.local()  # per worker thread: the check its encoded windows go through


def listen(model: Any) -> None:
    """Make `model.encode` (faster-whisper's WhisperModel) check each window it encodes,
    while `screening` is on in the calling thread: one decoder step on the encoder output
    the decoder computes anyway, so a monolingual input costs next to nothing more."""
    encode = model.encode

    def encode_and_listen(features: Any) -> Any:
        output = encode(features)
        check: Callable[[Any], None] | None = getattr(_screen, "check", None)
        # The first window is encoded for detection, then answered from memory for its
        # decode (workarounds.encode_first_window_once): the same output needs no second look.
        if check is not None and output is not getattr(_screen, "checked", None):
            _screen.checked = output
            check(output)
        return output

    model.encode = encode_and_listen


class Screen:
    """What `screening` heard: each window's detection, and whether one left doubt (the
    expected language under rule.doubt, or another at rule.rival: two languages in one
    window, or an unsure one)."""

    def __init__(self, language: str | None, rule: SwitchRule, tally: Tally | None = None) -> None:
        self.language = language
        self.rule = rule
        self.seen: list[Detection] = []
        self.doubted = False
        self.tally = tally or Tally()
        # Where each window sits: the segments decoded so far (start, end in seconds of the
        # piece) and, per window, how many of them came before it was encoded.
        self.decoded: list[tuple[float, float]] = []
        self.marks: list[int] = []
        self.doubts: list[bool] = []

    def follow(self, segments: Iterable[Any]) -> Iterator[Any]:
        """`segments` (faster-whisper's, times in seconds of the decoded piece), noted as
        they come: a window is encoded after the last segment of the window before."""
        for segment in segments:
            self.decoded.append((float(segment.start), float(segment.end)))
            yield segment

    def check(self, found: Detection) -> None:
        self.seen.append(found)
        self.marks.append(len(self.decoded))
        self.tally.windows += 1
        if self.language is None:
            self.language = found.language
        if found.language != self.language and found.probability >= self.rule.screen:
            self.doubts.append(True)
            raise SwitchHeard(found.language)
        rivals = [p for code, p in found.probabilities if code != self.language]
        unsure = (
            found.of(self.language) < self.rule.doubt or max(rivals, default=0.0) >= self.rule.rival
        )
        self.doubts.append(unsure)
        self.tally.doubted += unsure
        self.doubted = self.doubted or unsure

    def windows(self, total: float) -> list[tuple[float, float, Detection, bool]]:
        """Each window screened as (start, end, detection, in doubt), in seconds of the
        piece: from the end of the last segment decoded before it to the end of the last
        one before the next window; the last window (or the one that raised) runs to
        `total`, the piece's end. Approximate by a pause at most: a region is looked at
        again whenever a window it touches left doubt."""
        out = []
        for k, mark in enumerate(self.marks):
            start = self.decoded[mark - 1][1] if mark else 0.0
            after = self.marks[k + 1] if k + 1 < len(self.marks) else len(self.decoded)
            end = total if k + 1 == len(self.marks) else max(start, self.decoded[after - 1][1])
            out.append((start, end, self.seen[k], self.doubts[k]))
        return out


@contextmanager
def screening(
    model: Any, language: str | None, rule: SwitchRule, tally: Tally | None = None
) -> Iterator[Screen]:
    """While inside, every window this thread encodes is detected: the first sets the
    language when `language` is None; one clearly in another language raises SwitchHeard,
    one that leaves doubt is marked on the Screen yielded."""
    screen = Screen(language, rule, tally)

    def check(output: Any) -> None:
        began = time.perf_counter()
        try:
            for found in _detections(model, output):
                screen.check(found)
        finally:
            screen.tally.screen_seconds += time.perf_counter() - began

    _screen.check = check
    try:
        yield screen
    finally:
        _screen.check = _screen.checked = None


def labelled(segments: Sequence[Segment], language: str, probability: float) -> list[Segment]:
    """`segments` with their language and its probability."""
    from dataclasses import replace

    return [
        replace(s, language=language, language_probability=round(probability, 4)) for s in segments
    ]


def shares(segments: Sequence[Segment]) -> tuple[LanguageShare, ...]:
    """Each language's seconds of segments and share of them, the most spoken first."""
    seconds: dict[str, float] = {}
    for s in segments:
        if s.language:
            seconds[s.language] = seconds.get(s.language, 0.0) + max(0.0, s.end - s.start)
    total = sum(seconds.values())
    ranked = sorted(seconds.items(), key=lambda item: -item[1])
    return tuple(
        LanguageShare(code, round(secs, 3), round(secs / total, 4) if total else 0.0)
        for code, secs in ranked
    )


def top_probability(segments: Sequence[Segment], language: str) -> float:
    """The probability of `language` over the segments in it, weighted by their length."""
    weighted = [
        (s.language_probability or 0.0, s.end - s.start) for s in segments if s.language == language
    ]
    seconds = sum(w for _, w in weighted)
    return round(sum(p * w for p, w in weighted) / seconds, 4) if seconds else 0.0


def windows(
    model: Any, samples: Any, seconds: float, offset: float, multilingual: bool
) -> tuple[LanguageWindow, ...]:
    """Fixed windows of `seconds` with the language of their speech (PAI's per-window
    detector): a window holds speech when the voice detector hears half a second of it, or
    half the window; its speech alone, laid end to end, is what the detector hears."""
    import numpy as np

    from ffscribe.core.asr.split import speech_chunks

    step = max(1, int(seconds * SAMPLE_RATE))
    voiced = [(int(c["start"]), int(c["end"])) for c in speech_chunks(samples, None)]
    bounds = [(a, min(a + step, samples.size)) for a in range(0, samples.size, step)]
    heard: list[list[tuple[int, int]]] = [
        [(max(x, a), min(y, b)) for x, y in voiced if min(y, b) > max(x, a)] for a, b in bounds
    ]
    speaking = [
        sum(y - x for x, y in h) >= min(SAMPLE_RATE // 2, (b - a) // 2)
        for h, (a, b) in zip(heard, bounds, strict=True)
    ]
    asked = [i for i, s in enumerate(speaking) if s]
    found: dict[int, Detection] = {}
    if multilingual and asked:
        pieces = [np.concatenate([samples[x:y] for x, y in heard[i]]) for i in asked]
        found = dict(zip(asked, detect(model, pieces), strict=True))
    out = []
    for i, (a, b) in enumerate(bounds):
        language, probability = None, 0.0
        if speaking[i]:
            language, probability = (
                (found[i].language, found[i].probability) if i in found else ("en", 1.0)
            )
        out.append(
            LanguageWindow(
                round(offset + a / SAMPLE_RATE, 3),
                round(offset + b / SAMPLE_RATE, 3),
                language,
                probability,
                speaking[i],
            )
        )
    return tuple(out)


def batched_chunks(samples: Any, kwargs: dict[str, Any]) -> list[Any]:
    """The pieces of speech faster-whisper's batched pipeline decodes one each: the voice
    detector's speech gathered into pieces of up to 30 s (with VAD off, 30 s windows)."""
    from faster_whisper.vad import VadOptions, collect_chunks

    from ffscribe.core.asr.silero import speech_timestamps

    if not kwargs["vad_filter"]:
        return [samples[a : a + WINDOW_SAMPLES] for a in range(0, samples.size, WINDOW_SAMPLES)]
    options = VadOptions(**{**(kwargs["vad_parameters"] or {}), "max_speech_duration_s": 30})
    speech = speech_timestamps(samples, options)
    return [c for c in collect_chunks(samples, speech, max_duration=30)[0] if c.size]


def plan(
    model: Any,
    samples: Any,
    running: str | None,
    rule: SwitchRule,
    tally: Tally | None = None,
    screen: Screen | None = None,
) -> list[Run]:
    """The runs of one language each that `samples` falls into: its regions, each long
    enough one detected, the switch rule over them. With `screen` (the decode of `samples`
    that raised doubt), a region only under windows that left none takes that window's
    detection: only the regions a doubt or a switch touches cost an encoder pass each."""
    spans = find_regions(samples)
    known = heard_in(spans, screen.windows(samples.size / SAMPLE_RATE)) if screen else None
    regions = detect_regions(model, samples, spans, tally, known)
    return runs(regions, choose(regions, running, rule), int(samples.size))


def heard_in(
    spans: Sequence[tuple[int, int]], windows: Sequence[tuple[float, float, Detection, bool]]
) -> list[Detection | None]:
    """For each region (samples): the detection of the window it overlaps most, when every
    window it overlaps was sure of its language; None (to be detected) otherwise."""
    out: list[Detection | None] = []
    for a, b in spans:
        start, end = a / SAMPLE_RATE, b / SAMPLE_RATE
        touched = [(min(end, y) - max(start, x), found, doubt) for x, y, found, doubt in windows]
        touched = [t for t in touched if t[0] > 0]
        sure = touched and not any(doubt for _, _, doubt in touched)
        out.append(max(touched, key=lambda t: t[0])[1] if sure else None)
    return out
