"""Speech recognition: load a Whisper model once and turn decoded audio into Segments."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from ffscribe.core.errors import EnvironmentMissing, UsageError
from ffscribe.core.options import DecodeOptions, ModelOptions, cpu_cores, default_jobs
from ffscribe.core.split import cut_points, part_count, sounding
from ffscribe.core.transcript import ModelInfo, Segment, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from ffscribe.core.media import Audio

log = logging.getLogger("ffscribe.asr")

CONTEXT_SECONDS = 20.0  # speech before a cut decoded to prompt the part after it
TAIL_SECONDS = 30.0  # the most a last window can leave undecoded (one window)
SAMPLE_RATE = 16000  # media.SAMPLE_RATE; not imported, as media loads numpy at import
REPEATED_PAIRS = 0.8  # share of a segment's word pairs said before that marks it as filler
# Filler repeats the prompt, Whisper's last 223 tokens (about 150 words): a line said earlier
# than that is a real repeat (the hour benchmark repeats its pieces, and lost a sonnet's last
# line, said 218 s before, when all earlier text counted).
PROMPT_WORDS = 150
# Tail speech that counts: at least half a second of it, starting at least 0.2 s after the
# last segment's end (before that it is the last word's own end, timed early).
MIN_HEARD = SAMPLE_RATE // 2
MIN_GAP = SAMPLE_RATE // 5
MIN_TAIL = MIN_HEARD + MIN_GAP
# Speech Whisper passed over inside the transcript: a pause of GAP_SECONDS between segments
# in which the voice detector hears GAP_HEARD of speech (away from the pause's edges), or a
# segment of SPARSE_SECONDS or more with under SPARSE_RATE words a second. Words recovered
# there that repeat the NEIGHBOUR_WORDS either side are the neighbours' words, timed loosely.
GAP_SECONDS = 2.0
GAP_HEARD = SAMPLE_RATE
SPARSE_SECONDS = 8.0
SPARSE_RATE = 0.5
WORD_SECONDS = 0.25  # the least speech a word of a sparse segment takes (4 words a second)
MIN_REDONE_WORDS = 3  # what decoding the speech a segment jumped over must find to count
NEIGHBOUR_WORDS = 20

# Called with (seconds of audio done, seconds in all) as segments come out of the decoder.
ProgressCallback = Callable[[float, float], None]


@dataclass(frozen=True)
class Device:
    """Where CTranslate2 runs: `kind` is "cpu" or "cuda", `index` the GPU number."""

    kind: str
    index: int
    compute_type: str

    def __str__(self) -> str:
        return self.kind if self.kind == "cpu" else f"{self.kind}:{self.index}"


@dataclass(frozen=True)
class Recognition:
    """What the decoder found in one input, before the pipeline wraps it in a Transcript."""

    segments: tuple[Segment, ...]
    language: str
    language_probability: float


def parse_device(spec: str, compute_type: str = "auto") -> Device:
    """Turn `auto|cpu|cuda|cuda:N|gpu:N` into a Device; auto picks CUDA when a GPU is visible."""
    text = spec.strip().lower()
    kind, _, index_text = text.partition(":")
    if kind == "gpu":
        kind = "cuda"
    if kind not in ("auto", "cpu", "cuda") or (index_text and not index_text.isdigit()):
        raise UsageError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or gpu:N")
    if kind == "auto":
        kind = "cuda" if _cuda_devices() > 0 else "cpu"
    elif kind == "cuda" and _cuda_devices() == 0:
        raise EnvironmentMissing(
            f"device {spec!r} asked for, but CTranslate2 sees no CUDA GPU: "
            "use --device cpu, or install the NVIDIA driver, CUDA 12 and cuDNN 9"
        )
    index = int(index_text or 0)
    if compute_type == "auto":
        compute_type = "int8" if kind == "cpu" else "float16"
    return Device(kind=kind, index=index, compute_type=compute_type)


def _cuda_devices() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # no driver at all
        return 0


class Recognizer:
    """A loaded Whisper model and the device it sits on; reuse it for every input."""

    def __init__(self, model_path: str, name: str, options: ModelOptions) -> None:
        from faster_whisper import WhisperModel

        from ffscribe.core import silero  # numpy: not at import, which --help pays for
        from ffscribe.core.features import BlockwiseLogMel

        self.device = parse_device(options.device, options.compute_type)
        self.workers = options.jobs or default_jobs(self.device.kind)
        threads = options.threads or max(1, cpu_cores() // self.workers)
        try:
            self.model: WhisperModel = WhisperModel(
                model_path,
                device=self.device.kind,
                device_index=self.device.index,
                compute_type=self.device.compute_type,
                cpu_threads=threads,
                num_workers=self.workers,
                download_root=options.download_root,
            )
        except ValueError as exc:  # CTranslate2 rejects an unsupported compute type
            raise UsageError(f"cannot load {name} on {self.device}: {exc}") from exc
        self.info = ModelInfo(
            name=name, device=str(self.device), compute_type=self.device.compute_type
        )
        self._batched: Any = None
        # faster-whisper's extractor holds an input's every frame and spectrum at once
        # (3 GiB for an hour); this one gives the same features a block at a time.
        self.model.feature_extractor = BlockwiseLogMel(self.model.feature_extractor)
        silero.install()  # and Silero's windows are built a batch at a time
        _encode_first_window_once(self.model)

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def check(self, options: DecodeOptions) -> None:
        """Refuse options this model cannot honour, before any audio is decoded."""
        if self.multilingual:
            if options.language and options.language not in _languages():
                raise UsageError(f"unknown language code {options.language!r}")
            return
        if options.language not in (None, "en"):
            raise UsageError(
                f"model {self.info.name} is English-only; --language {options.language} "
                "needs a multilingual model (e.g. --model base)"
            )
        if options.task == "translate":
            raise UsageError(f"model {self.info.name} is English-only and cannot translate")

    def recognize(
        self,
        audio: Audio,
        options: DecodeOptions,
        progress: ProgressCallback | None = None,
        *,
        split: bool = True,
    ) -> Recognition:
        """Decode `audio`; times in the result are on the source's timeline (plus audio.offset).

        With several workers, sequential decoding and `split`, a long input is cut at pauses
        into parts transcribed side by side, each prompted with the text before its cut: on a
        small CPU, two one-thread workers nearly double throughput where more threads barely
        help. The batch passes split=False while other inputs wait for a worker: running
        inputs side by side is as fast then, and keeps each input's sequential text."""
        kwargs = _transcribe_kwargs(options)
        if options.batch_size > 1:
            segments, info = self._batched_pipeline().transcribe(
                audio.samples, batch_size=options.batch_size, **kwargs
            )
            return _recognition(_collect(segments, audio.offset, audio.duration, progress), info)
        count = part_count(audio.duration, self.workers) if split else 1
        if count > 1:
            speech = sounding(audio.samples)
            parts = cut_points(speech, audio.samples.size, count, _quiet_within(audio.samples))
            if len(parts) > 1:
                return self._recognize_parts(audio, parts, speech, kwargs, progress)
        segments, info = self._transcribe(audio.samples, kwargs)
        return _recognition(_collect(segments, audio.offset, audio.duration, progress), info)

    def _recognize_parts(
        self,
        audio: Audio,
        parts: list[tuple[int, int]],
        speech: list[tuple[int, int]],
        kwargs: dict[str, Any],
        progress: ProgressCallback | None,
    ) -> Recognition:
        no_speech, log_prob = _silence_rule(kwargs)
        rate = audio.sample_rate
        tracker = _PartsProgress(progress, audio.duration, len(parts))
        pieces = [audio.samples[a:b] for a, b in parts]
        # Each part gets the features the whole input would have: the voice detector runs
        # over the whole, its speech split at the cuts, and the log-mel floor is set by the
        # whole's loudest frame, not each part's (Whisper's text changes with the floor:
        # on the 676 s benchmark file a part decoded with its own lost 8 words that the
        # whole had; with the whole's, the first part's text is the whole's, word for word).
        from ffscribe.core.features import loudest

        everywhere = _speech_chunks(audio.samples, kwargs)
        voiced = _split_chunks(everywhere, parts)
        sizes = [_collected_size(p, v) for p, v in zip(pieces, voiced, strict=True)]
        extractor = self.model.feature_extractor

        def loudest_in(index: int) -> Any:
            # On the frames of the whole's features: sum(sizes[:index]) samples before.
            grid = -sum(sizes[:index]) % int(extractor.hop_length)
            return loudest(extractor, _collected(pieces[index], voiced[index]), grid)

        def run(index: int, top: Any, language: str) -> tuple[Segment, ...]:
            a, b = parts[index]
            decode = {**kwargs, "language": language}
            with extractor.floor(top):
                prompt = self._context(audio, parts, index, speech, decode) if index else None
                part_kwargs = {**decode, "initial_prompt": prompt} if prompt else decode
                segments, _ = self._transcribe(pieces[index], part_kwargs, voiced[index])
                offset = audio.offset + a / rate
                found = _collect(segments, offset, (b - a) / rate, tracker.callback(index))
            return found if index == len(parts) - 1 else _trim_cut_tail(found, no_speech, log_prob)

        indices = range(len(parts))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ffscribe-asr") as pool:
            try:
                top = max(pool.map(loudest_in, indices))
                language, probability = self._language(audio, everywhere, top, kwargs)
                results = list(pool.map(run, indices, [top] * len(parts), [language] * len(parts)))
            except BaseException:  # Ctrl-C, or a part failed: don't wait for the others
                tracker.stop.set()
                raise
        merged = [s for part in results for s in part]
        segments = tuple(replace(s, id=i) for i, s in enumerate(merged))
        return Recognition(segments, language, probability)

    def _transcribe(
        self, samples: Any, kwargs: dict[str, Any], voiced: list[dict[str, int]] | None = None
    ) -> tuple[Iterator[Any], Any]:
        """faster-whisper's transcribe, plus the speech its windows skipped. With `voiced`
        (the voice detector's speech in `samples`, found already), only that speech is
        decoded and the times put back, as faster-whisper does with its VAD filter on."""
        if voiced is None:
            segments, info = self.model.transcribe(samples, **kwargs)
        else:
            from faster_whisper.transcribe import restore_speech_timestamps

            found, info = self.model.transcribe(
                _collected(samples, voiced), **{**kwargs, "vad_filter": False}
            )
            segments = restore_speech_timestamps(found, voiced, SAMPLE_RATE) if voiced else found
        return self._recover(samples, segments, kwargs, str(info.language)), info

    def _recover(
        self, samples: Any, segments: Iterable[Any], kwargs: dict[str, Any], language: str
    ) -> Iterator[Any]:
        """Yield `segments`, and decode again the speech Whisper passed over, where a voice
        detector hears it: in a pause of GAP_SECONDS or more between segments, in a long
        segment with few words, and after the last segment.

        Whisper sometimes ends its last window early (the long benchmark file's final
        sentence came back in one run and not another, depending only on where the windows
        fell), drops a window it judges silent, or jumps its timestamps over speech (a 26 s
        segment "in this regard." over a whole paragraph of the hour benchmark). Bare
        faster-whisper loses that speech, differently on every perturbation of its input.
        The span is decoded with the text before it as its prompt; what Whisper itself calls
        silence, and what repeats the text around the span, is left out. Only with VAD on:
        the voice detector is what the user asked to trust."""
        if not kwargs["vad_filter"]:
            yield from segments
            return
        recovery = _Recovery(self, samples, kwargs, language)
        for segment in segments:
            start = int(float(segment.start) * SAMPLE_RATE)
            if start - recovery.at >= GAP_SECONDS * SAMPLE_RATE:
                yield from recovery.fill(start, _plain_words(segment.text))
            if _sparse(segment):
                redone = recovery.redo(segment)
                if redone:
                    yield from redone
                    continue
            recovery.keep(segment)
            yield segment
        if recovery.earlier:
            yield from recovery.tail()

    def _context(
        self,
        audio: Audio,
        parts: list[tuple[int, int]],
        index: int,
        speech: list[tuple[int, int]],
        kwargs: dict[str, Any],
    ) -> list[int] | None:
        """The tokens of the speech just before part `index`, to prompt that part with.

        Decoded in one piece, Whisper reads each window with the text before it as its
        prompt; a part decoded on its own would start with none, and on the sonnets it then
        spells the archaic words differently ("beauties rose" for "beauty's rose"). The
        worker decodes the last CONTEXT_SECONDS before its cut first (from the start of a
        stretch of speech, greedy, no word timings), and its tokens stand in for that prompt."""
        if not kwargs["condition_on_previous_text"] or CONTEXT_SECONDS <= 0:
            return None
        cut = parts[index][0]
        earliest = max(parts[index - 1][0], cut - int(CONTEXT_SECONDS * audio.sample_rate))
        starts = [a for a, _ in speech if earliest <= a < cut]
        begin = starts[0] if starts else earliest
        greedy = {"beam_size": 1, "best_of": 1, "temperature": [0.0], "word_timestamps": False}
        segments, _ = self.model.transcribe(audio.samples[begin:cut], **{**kwargs, **greedy})
        tokens = [int(t) for s in segments for t in s.tokens]
        return tokens or None

    def _language(
        self, audio: Audio, voiced: list[dict[str, int]] | None, top: Any, kwargs: dict[str, Any]
    ) -> tuple[str, float]:
        """Detect the language once for the whole input, so every part uses the same: from
        the first window of the whole's speech (`voiced`), with the whole's log-mel floor
        `top`, as faster-whisper would detect it decoding the input in one piece."""
        if kwargs["language"]:
            return str(kwargs["language"]), 1.0
        if not self.multilingual:
            return "en", 1.0
        extractor = self.model.feature_extractor
        window = int(extractor.n_samples)
        # A little over one window: its last frames read the samples after it.
        head = _speech_head(audio.samples, voiced, window + int(extractor.n_fft))
        with extractor.floor(top):
            features = extractor(head)
        language, probability, _ = self.model.detect_language(features=features)
        return str(language), float(probability)

    def _batched_pipeline(self) -> Any:
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(model=self.model)
        return self._batched


def _silence_rule(kwargs: dict[str, Any]) -> tuple[float, float]:
    """The no-speech and log-probability thresholds in effect (Whisper's defaults if off)."""
    no_speech = kwargs["no_speech_threshold"]
    log_prob = kwargs["log_prob_threshold"]
    return (0.6 if no_speech is None else no_speech), (-1.0 if log_prob is None else log_prob)


class _Recovery:
    """What `Recognizer._recover` knows of the transcript so far, and how it decodes a span
    of `samples` again: with that transcript's tokens as the prompt, the language fixed."""

    def __init__(
        self, recognizer: Recognizer, samples: Any, kwargs: dict[str, Any], language: str
    ) -> None:
        self.recognizer = recognizer
        self.samples = samples
        self.kwargs = {**kwargs, "language": language}
        self.no_speech, self.log_prob = _silence_rule(kwargs)
        self.at = 0  # the sample where the transcript so far ends
        self.tokens: list[int] = []
        self.earlier: list[Any] = []

    def keep(self, segment: Any) -> None:
        self.earlier.append(segment)
        self.tokens.extend(segment.tokens)
        self.at = max(self.at, int(float(segment.end) * SAMPLE_RATE))

    def fill(self, end: int, next_words: list[str]) -> list[Any]:
        """The speech in the pause from the transcript's end to `end` (where the next
        segment starts, its words `next_words`), if the voice detector hears a second of it
        away from the pause's edges."""
        found = _speech_within(self.samples[self.at : end])
        if found is None:
            return []
        around = _recent_words(self.earlier)[-NEIGHBOUR_WORDS:] + next_words[:NEIGHBOUR_WORDS]
        return self._decode(self.at + found, end, around)

    def redo(self, segment: Any) -> list[Any] | None:
        """A long segment with few words, and speech the voice detector hears in its span
        after about the time those words take: Whisper jumped its timestamps over that
        speech. Returns the segment, ended where that speech starts, and the speech decoded
        after it (its prompt includes the segment); None to keep the segment as it is (no
        such speech, or no words found in it). Decoding the whole span again gives the
        same jump: it starts with the same words and the same prompt."""
        start = int(float(segment.start) * SAMPLE_RATE)
        end = int(float(segment.end) * SAMPLE_RATE)
        own = _plain_words(segment.text)
        resume = _after_words(self.samples[start:end], len(own))
        if resume is None:
            return None
        state = len(self.earlier), list(self.tokens), self.at
        head = replace(segment, end=(start + resume) / SAMPLE_RATE)
        self.keep(head)
        found = self._decode(start + resume, end, own)
        if sum(len(_plain_words(s.text)) for s in found) >= MIN_REDONE_WORDS:
            return [head, *found]
        self.earlier[state[0] :], self.tokens, self.at = [], state[1], state[2]
        return None

    def tail(self) -> list[Any]:
        """The speech after the last segment that Whisper's last window left undecoded."""
        begin = self.at
        if not MIN_TAIL <= self.samples.size - begin <= TAIL_SECONDS * SAMPLE_RATE:
            return []  # too short to hold what _speech_after asks for: no VAD pass at all
        start = _speech_after(self.samples[begin:])
        if start is None:
            return []
        return self._decode(begin + start, self.samples.size, [])

    def _decode(self, start: int, end: int, around: list[str]) -> list[Any]:
        """Decode samples[start:end] prompted with the transcript so far; keep what is not
        filler and does not repeat `around`, shifted onto the input's timeline, and add it
        to the transcript."""
        kwargs = self.kwargs
        prompt = self.tokens if kwargs["condition_on_previous_text"] else kwargs["initial_prompt"]
        model = self.recognizer.model
        segments, _ = model.transcribe(
            self.samples[start:end], **{**kwargs, "initial_prompt": prompt or None}
        )
        shift = start / SAMPLE_RATE
        kept: list[Any] = []
        for segment in segments:
            if _filler(segment, self.earlier, self.no_speech, self.log_prob):
                continue
            if around and _said(segment.text, around):
                continue
            moved = _shifted(segment, shift)
            log.debug("recovered at %.2f s: %s", moved.start, moved.text)
            self.keep(moved)
            kept.append(moved)
        return kept


def _sparse(segment: Any) -> bool:
    """A segment long enough and with few enough words that Whisper may have jumped its
    timestamps over speech ("in this regard." for 26 s)."""
    seconds = float(segment.end) - float(segment.start)
    return seconds >= SPARSE_SECONDS and len(segment.text.split()) < SPARSE_RATE * seconds


def _after_words(samples: Any, words: int) -> int | None:
    """In a sparse segment's span, where the speech after its own `words` starts (a little
    before the voice detector's onset): the first stretch of speech that begins once
    WORD_SECONDS a word have been heard. None unless GAP_HEARD of speech follows."""
    chunks = _voiced(samples, pad_ms=0)
    heard = 0
    for index, (begin, finish) in enumerate(chunks):
        if heard >= words * WORD_SECONDS * SAMPLE_RATE and begin > 0:
            after = sum(b - a for a, b in chunks[index:])
            return max(0, begin - SAMPLE_RATE // 4) if after >= GAP_HEARD else None
        heard += finish - begin
    return None


def _speech_within(samples: Any) -> int | None:
    """Where speech starts in a pause between two segments, a little before the voice
    detector's onset; None unless it hears GAP_HEARD of speech away from both edges (the
    words either side, timed loosely, are not speech Whisper missed)."""
    if samples.size < GAP_HEARD + 2 * MIN_GAP:
        return None
    low, high = MIN_GAP, samples.size - MIN_GAP
    chunks = [(max(a, low), min(b, high)) for a, b in _voiced(samples, pad_ms=0)]
    chunks = [(a, b) for a, b in chunks if b > a]
    if sum(b - a for a, b in chunks) < GAP_HEARD:
        return None
    return max(0, chunks[0][0] - SAMPLE_RATE // 4)


def _speech_chunks(samples: Any, kwargs: dict[str, Any]) -> list[dict[str, int]] | None:
    """The voice detector's speech in `samples` with the decode's VAD settings, as
    faster-whisper's VAD filter finds it; None with the filter off."""
    if not kwargs["vad_filter"]:
        return None
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    parameters = kwargs["vad_parameters"]
    options = VadOptions(**parameters) if isinstance(parameters, dict) else parameters
    return list(get_speech_timestamps(samples, options or VadOptions()))


def _split_chunks(
    voiced: list[dict[str, int]] | None, parts: list[tuple[int, int]]
) -> list[list[dict[str, int]] | None]:
    """`voiced` (speech over a whole input) for each part, cut at the part's ends and counted
    from its start: the parts' speech laid end to end is the whole's."""
    if voiced is None:
        return [None] * len(parts)
    out: list[list[dict[str, int]] | None] = []
    for a, b in parts:
        inside = [(max(c["start"], a), min(c["end"], b)) for c in voiced]
        out.append([{"start": x - a, "end": y - a} for x, y in inside if y > x])
    return out


def _collected(samples: Any, voiced: list[dict[str, int]] | None) -> Any:
    """The speech of `samples` end to end (all of it when `voiced` is None)."""
    if voiced is None:
        return samples
    import numpy as np
    from faster_whisper.vad import collect_chunks

    return np.concatenate(collect_chunks(samples, voiced)[0])


def _speech_head(samples: Any, voiced: list[dict[str, int]] | None, size: int) -> Any:
    """The first `size` samples of the speech of `samples` laid end to end (of `samples`
    itself when `voiced` is None), gathering no more of it than that."""
    if voiced is None:
        return samples[:size]
    import numpy as np

    head: list[Any] = []
    left = size
    for chunk in voiced:
        if left <= 0:
            break
        piece = samples[chunk["start"] : min(chunk["end"], chunk["start"] + left)]
        head.append(piece)
        left -= piece.size
    return np.concatenate(head) if head else samples[:0]


def _collected_size(samples: Any, voiced: list[dict[str, int]] | None) -> int:
    if voiced is None:
        return int(samples.size)
    return sum(int(c["end"]) - int(c["start"]) for c in voiced)


def _speech_after(samples: Any) -> int | None:
    """Where speech starts in `samples` (the audio after a transcript's last segment), a
    little before the voice detector's onset; None when there is less than half a second
    of it, or it starts right at the beginning (the last word's own end, timed early)."""
    chunks = _voiced(samples, pad_ms=0)
    heard = sum(b - a for a, b in chunks)
    if heard < MIN_HEARD or chunks[0][0] < MIN_GAP:
        return None
    return max(0, chunks[0][0] - SAMPLE_RATE // 4)


def _voiced(samples: Any, pad_ms: int) -> list[tuple[int, int]]:
    """Silero VAD's speech in `samples` as (start, end) sample ranges, split at pauses of
    0.1 s (finer than transcription's 2 s: these callers look for the pauses themselves)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=100, speech_pad_ms=pad_ms)
    return [(int(c["start"]), int(c["end"])) for c in get_speech_timestamps(samples, options)]


def _shifted(segment: Any, seconds: float) -> Any:
    """A faster-whisper segment (and its words) moved `seconds` later."""
    words = segment.words and [
        replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words
    ]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)


def _quiet_within(samples: Any) -> Callable[[int, int], list[tuple[int, int]]]:
    """For cut_points: the stretches of [start, end) where Silero VAD hears no speech.

    Run only on the few candidate pauses near each even split (padded by half a second for
    the detector's context), never over the whole input."""

    def check(start: int, end: int) -> list[tuple[int, int]]:
        low, high = max(0, start - 8000), min(samples.size, end + 8000)
        quiet: list[tuple[int, int]] = []
        at = start
        for begin, finish in _voiced(samples[low:high], pad_ms=100):
            begin, finish = begin + low, finish + low
            if min(begin, end) > at:
                quiet.append((at, min(begin, end)))
            at = max(at, finish)
        if end > at:
            quiet.append((at, end))
        return quiet

    return check


def _trim_cut_tail(
    segments: tuple[Segment, ...], no_speech: float, log_prob: float
) -> tuple[Segment, ...]:
    """Drop the filler Whisper writes into the pause at the end of a part cut from a longer
    input.

    The last window of such a part is mostly the pause the cut was placed in, and Whisper
    fills it by repeating lines from its prompt (a whole line of sonnet 1 again before
    sonnet 2, with no_speech_prob 0.9 but a log-probability that passes its own silence
    rule). Real speech in that window can also get a high no_speech_prob (0.6-0.9 on the
    last line of a sonnet), so only what repeats earlier text, or fails the log-probability
    rule as well, goes."""
    end = len(segments)
    while end and _filler(segments[end - 1], segments[: end - 1], no_speech, log_prob):
        end -= 1
        log.debug(
            "dropped filler before a cut at %.2f s: %s", segments[end].end, segments[end].text
        )
    return segments[:end]


def _filler(segment: Any, earlier: Sequence[Any], no_speech: float, log_prob: float) -> bool:
    """Whether `segment` (ours or faster-whisper's) is Whisper filling silence: a high
    no-speech probability, and either a low log-probability or words just said: nearly all
    its word pairs appear in the last PROMPT_WORDS words before it. The filler is not always
    a verbatim repeat ("Thou art now the world's fresh ornament, and tender churl makes
    waste in niggarding" joins two earlier lines of the sonnet); a new line shares few."""
    if segment.no_speech_prob <= no_speech:
        return False
    if segment.avg_logprob < log_prob:
        return True
    return _said(segment.text, _recent_words(earlier))


def _said(text: str, before: list[str]) -> bool:
    """Whether nearly all of `text`'s word pairs (its words, when under three) are in
    `before`; empty text counts as said."""
    words = _plain_words(text)
    if len(words) < 3:
        return " ".join(words) in " ".join(before) if words else True
    seen = set(pairwise(before))
    pairs = list(pairwise(words))
    return sum(p in seen for p in pairs) >= REPEATED_PAIRS * len(pairs)


def _recent_words(earlier: Sequence[Any]) -> list[str]:
    """The last PROMPT_WORDS plain words of `earlier` segments, reading back only as far as
    needed (a tail decoded after an hour of segments must not rescan the hour)."""
    words: list[str] = []
    for segment in reversed(earlier):
        words[:0] = _plain_words(segment.text)
        if len(words) >= PROMPT_WORDS:
            break
    return words[-PROMPT_WORDS:]


def _plain_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing texts."""
    return [
        w for w in ("".join(c for c in word if c.isalnum()) for word in text.lower().split()) if w
    ]


def _encode_first_window_once(model: WhisperModel) -> None:
    """Make faster-whisper encode an input's first window once, not twice.

    Detecting the language (faster-whisper 1.2.1, language=None), `transcribe` encodes the
    first 30 s window for `detect_language`, drops that encoder output, and encodes the same
    window again to decode it: on a CPU the encoder is about a second of one core per window
    with base, as much again as decoding a short clip. Two instance-level wrappers fix it:
    detection is given the features without their last frame (the decoder never sees that
    frame: it stops at `features.shape[-1] - 1`), so both ask for the very same encoder
    input, and each thread keeps its last encoder input and output, so the second request
    is answered from memory. The decoded text is unchanged; only which call computes the
    encoder output moves."""
    detect = model.detect_language
    encode = model.encode
    last = threading.local()

    def detect_language(audio: Any = None, features: Any = None, **kwargs: Any) -> Any:
        if audio is None and features is not None and features.shape[-1] > 1:
            features = features[..., : features.shape[-1] - 1]
        return detect(audio=audio, features=features, **kwargs)

    def encode_once(features: Any) -> Any:
        import numpy as np

        seen = getattr(last, "features", None)
        if seen is not None and seen.shape == features.shape and np.array_equal(seen, features):
            return last.output
        output = encode(features)
        last.features, last.output = np.array(features, copy=True), output
        return output

    model.detect_language = detect_language
    model.encode = encode_once


class _PartsProgress:
    """Sums the progress of parts decoded at once into one (done, total) for the caller, and
    stops every part at its next segment once one part, or the caller, gave up."""

    def __init__(self, progress: ProgressCallback | None, total: float, parts: int) -> None:
        self.progress = progress
        self.total = total
        self.done = [0.0] * parts
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def callback(self, index: int) -> ProgressCallback:
        def update(done: float, _total: float) -> None:
            if self.stop.is_set():
                raise _Abandoned
            with self.lock:
                self.done[index] = done
                if self.progress is not None:
                    self.progress(sum(self.done), self.total)

        return update


class _Abandoned(Exception):
    """Ends a part's decoding early because the whole input is being given up."""


def _recognition(segments: tuple[Segment, ...], info: Any) -> Recognition:
    return Recognition(segments, str(info.language), float(info.language_probability))


def _languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def _transcribe_kwargs(options: DecodeOptions) -> dict[str, Any]:
    return {
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        "best_of": options.best_of,
        "patience": options.patience,
        "length_penalty": options.length_penalty,
        "temperature": list(options.temperatures),
        "compression_ratio_threshold": options.compression_ratio_threshold,
        "log_prob_threshold": options.log_prob_threshold,
        "no_speech_threshold": options.no_speech_threshold,
        "condition_on_previous_text": options.condition_on_previous_text,
        "initial_prompt": options.initial_prompt,
        "hotwords": options.hotwords,
        "word_timestamps": options.word_timestamps,
        "vad_filter": options.vad,
        "vad_parameters": {"min_silence_duration_ms": options.vad_min_silence_ms}
        if options.vad
        else None,
        "without_timestamps": False,
    }


def _collect(
    segments: Iterable[Any], offset: float, duration: float, progress: ProgressCallback | None
) -> tuple[Segment, ...]:
    """Convert faster-whisper's lazy segments, shifting times by `offset` and clamping them
    into [offset, offset + duration] so timestamps stay monotonic and inside the input."""
    end_limit = offset + duration
    out: list[Segment] = []
    last_end = offset
    if progress is not None:
        progress(0.0, duration)
    for raw in segments:
        start = min(max(float(raw.start) + offset, last_end), end_limit)
        end = min(max(float(raw.end) + offset, start), end_limit)
        words = tuple(_word(w, offset, start, end) for w in raw.words or ())
        out.append(
            Segment(
                id=len(out),
                seek=int(raw.seek),
                start=start,
                end=end,
                text=str(raw.text),
                tokens=tuple(int(t) for t in raw.tokens),
                temperature=float(raw.temperature or 0.0),
                avg_logprob=float(raw.avg_logprob),
                compression_ratio=float(raw.compression_ratio),
                no_speech_prob=float(raw.no_speech_prob),
                words=words,
            )
        )
        last_end = end
        if progress is not None:
            progress(end - offset, duration)
    if progress is not None:
        progress(duration, duration)
    return tuple(out)


def _word(raw: Any, offset: float, seg_start: float, seg_end: float) -> Word:
    start = min(max(float(raw.start) + offset, seg_start), seg_end)
    end = min(max(float(raw.end) + offset, start), seg_end)
    return Word(
        start=start,
        end=end,
        word=str(raw.word),
        probability=round(float(raw.probability), 4),
    )
