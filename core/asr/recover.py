"""Speech Whisper passed over, decoded again; and the filler it writes into pauses, left out.

faster-whisper's sequential decoding loses speech in three ways that a voice detector can
see: its last window ends early, it judges a window silent and skips it, or it jumps its
timestamps over a paragraph (a 30 s segment "in this regard." on the hour benchmark file).
Bare faster-whisper loses that speech differently on every small change to its input;
`recover` decodes it again, prompted with the text before it (BENCHMARKS.md, "Third
session"). Split inputs also use `trim_cut_tail`: what Whisper writes into the pause at a
part's end repeats its prompt.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from ffscribe.core.engine import timeline

if TYPE_CHECKING:
    from ffscribe.core.data.transcript import Segment

log = logging.getLogger("ffscribe.asr")

TAIL_SECONDS = 30.0  # the most a last window can leave undecoded (one window)
SAMPLE_RATE = 16000  # media.SAMPLE_RATE; not imported, as media loads numpy at import
REPEATED_PAIRS = 0.8  # share of a segment's word pairs said before that marks it as filler
# Filler repeats the prompt, Whisper's last 223 tokens (about 150 words): a line said earlier
# than that is a real repeat, not filler (BENCHMARKS.md, "Figures behind the code's constants").
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
# Whisper's jumps keep the words either side of what they skip, so a long segment with few
# words a second (speech runs 2-3) hides speech it passed over (BENCHMARKS.md, "Figures
# behind the code's constants").
SPARSE_RATE = 1.0
WORD_SECONDS = 0.25  # the least speech a word of a sparse segment takes (4 words a second)
MIN_REDONE_WORDS = 3  # what decoding the speech a segment jumped over must find to count
NEIGHBOUR_WORDS = 20


def recover(
    model: Any, samples: Any, segments: Iterable[Any], kwargs: dict[str, Any], language: str
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
    recovery = _Recovery(model, samples, kwargs, language)
    for segment in segments:
        start = int(float(segment.start) * SAMPLE_RATE)
        if start - recovery.at >= GAP_SECONDS * SAMPLE_RATE:
            yield from timeline.iterate("recover", recovery.fill(start, plain_words(segment.text)))
        if sparse(segment):
            with timeline.span("recover"):
                redone = recovery.redo(segment)
            if redone:
                yield from redone
                continue
        recovery.keep(segment)
        yield segment
    if recovery.earlier:
        yield from timeline.iterate("recover", recovery.tail())


def silence_rule(kwargs: dict[str, Any]) -> tuple[float, float]:
    """The no-speech and log-probability thresholds in effect (Whisper's defaults if off)."""
    no_speech = kwargs["no_speech_threshold"]
    log_prob = kwargs["log_prob_threshold"]
    return (0.6 if no_speech is None else no_speech), (-1.0 if log_prob is None else log_prob)


class _Recovery:
    """What `recover` knows of the transcript so far, and how it decodes a span
    of `samples` again: with that transcript's tokens as the prompt, the language fixed."""

    def __init__(self, model: Any, samples: Any, kwargs: dict[str, Any], language: str) -> None:
        self.model = model
        self.samples = samples
        self.kwargs = {**kwargs, "language": language}
        self.no_speech, self.log_prob = silence_rule(kwargs)
        self.at = 0  # the sample where the transcript so far ends
        self.tokens: list[int] = _prompt_tokens(model, kwargs["initial_prompt"])
        self.earlier: list[Any] = []

    def keep(self, segment: Any) -> None:
        self.earlier.append(segment)
        self.tokens.extend(segment.tokens)
        self.at = max(self.at, int(float(segment.end) * SAMPLE_RATE))

    def fill(self, end: int, next_words: list[str]) -> Iterator[Any]:
        """The speech in the pause from the transcript's end to `end` (where the next
        segment starts, its words `next_words`), if the voice detector hears a second of it
        away from the pause's edges."""
        found = speech_within(self.samples[self.at : end])
        if found is None:
            return
        around = recent_words(self.earlier)[-NEIGHBOUR_WORDS:] + next_words[:NEIGHBOUR_WORDS]
        yield from self._decode(self.at + found, end, around)

    def redo(self, segment: Any) -> list[Any] | None:
        """A long segment with few words, and speech the voice detector hears in its span
        beyond about the time those words take: Whisper jumped its timestamps over that
        speech. Returns the segment, ended where that speech starts, and the speech
        decoded after it; None to keep the segment as it is (no such speech, or no words
        found in it). Decoding the whole span again gives the same jump: it starts with
        the same words and the same prompt.

        A jump keeps the words either side of what it skips ("In this regard, Mr. Quilter
        is the apostle ...", where "Mr. Quilter" comes 30 s after "regard"): the decoding
        resumes after the segment's first clause, prompted with the transcript before the
        segment (its later words would prompt Whisper to go on from them, and it invents
        the rest of their sentence), and when it finds the segment's later words again,
        the segment keeps only its first clause."""
        start = int(float(segment.start) * SAMPLE_RATE)
        end = int(float(segment.end) * SAMPLE_RATE)
        own = plain_words(segment.text)
        chunks = speech_spans(self.samples[start:end], pad_ms=0)
        after_all = after_words(chunks, len(own))
        if after_all is None:
            return None  # no more speech than its words take
        lead = first_clause(segment.text)
        lead_words = plain_words(lead)
        resume = after_words(chunks, len(lead_words))
        if resume is None:
            return None
        state = len(self.earlier), list(self.tokens), self.at
        # The filler rule sees only the first clause: the later words may come back here.
        self.earlier.append(replace(segment, text=lead))  # the prompt stays as it was
        self.at = start + resume
        found = list(self._decode(start + resume, end, lead_words))
        later = own[len(lead_words) :]
        head_tokens = _leading_tokens(self.model, segment, lead) if later else None
        if head_tokens is not None and said(
            " ".join(later), [w for s in found for w in plain_words(s.text)]
        ):
            kept = len(lead.split())
            head = replace(
                segment,
                end=(start + resume) / SAMPLE_RATE,
                text=lead,
                tokens=head_tokens,
                words=segment.words[:kept] if segment.words else segment.words,
            )
        else:  # its words stay in it, where they take their time; what repeats them is theirs
            head = replace(segment, end=(start + after_all) / SAMPLE_RATE)
            found = [
                s
                for s in found
                if float(s.start) * SAMPLE_RATE >= start + after_all and not said(s.text, own)
            ]
        if sum(len(plain_words(s.text)) for s in found) < MIN_REDONE_WORDS:
            self.earlier[state[0] :], self.tokens, self.at = [], state[1], state[2]
            return None
        self.earlier[state[0] :] = [head, *found]
        self.tokens = state[1] + list(head.tokens) + [t for s in found for t in s.tokens]
        self.at = max([state[2], _end(head), *(_end(s) for s in found)])
        return [head, *found]

    def tail(self) -> Iterator[Any]:
        """The speech after the last segment that Whisper's last window left undecoded."""
        begin = self.at
        if not MIN_TAIL <= self.samples.size - begin <= TAIL_SECONDS * SAMPLE_RATE:
            return  # too short to hold what speech_after asks for: no VAD pass at all
        start = speech_after(self.samples[begin:])
        if start is not None:  # the last words again, timed late, are theirs
            around = recent_words(self.earlier)[-NEIGHBOUR_WORDS:]
            yield from self._decode(begin + start, self.samples.size, around)

    def _decode(self, start: int, end: int, around: list[str]) -> Iterator[Any]:
        """Decode samples[start:end] prompted with the transcript so far; yield what is not
        filler and does not repeat `around`, shifted onto the input's timeline, as it comes
        (so a caller stopping at its next segment, on Ctrl-C, waits for one window, not the
        span), and add it to the transcript."""
        kwargs = self.kwargs
        prompt = self.tokens if kwargs["condition_on_previous_text"] else kwargs["initial_prompt"]
        segments, _ = self.model.transcribe(
            self.samples[start:end], **{**kwargs, "initial_prompt": prompt or None}
        )
        shift = start / SAMPLE_RATE
        for segment in segments:
            if filler(segment, self.earlier, self.no_speech, self.log_prob):
                continue
            if around and said(segment.text, around):
                continue
            moved = shifted(segment, shift)
            log.debug("recovered at %.2f s: %s", moved.start, moved.text)
            self.keep(moved)
            yield moved


def _prompt_tokens(model: Any, initial_prompt: Any) -> list[int]:
    """The tokens faster-whisper starts a transcript's prompt with: the user's initial
    prompt, encoded as it encodes it (a leading space, stripped text), or given as tokens
    (a split part's context)."""
    if not initial_prompt:
        return []
    if isinstance(initial_prompt, str):
        text = " " + initial_prompt.strip()
        return list(model.hf_tokenizer.encode(text, add_special_tokens=False).ids)
    return [int(t) for t in initial_prompt]


def sparse(segment: Any) -> bool:
    """A segment long enough and with few enough words that Whisper may have jumped its
    timestamps over speech ("in this regard." for 26 s)."""
    seconds = float(segment.end) - float(segment.start)
    return seconds >= SPARSE_SECONDS and len(segment.text.split()) < SPARSE_RATE * seconds


def after_words(chunks: Sequence[tuple[int, int]], words: int) -> int | None:
    """In a sparse segment's span, whose speech is `chunks` (speech_spans, no padding),
    where the speech after its first `words` starts (a little before the voice detector's
    onset): the first stretch of speech that begins once WORD_SECONDS a word have been
    heard. None unless GAP_HEARD of speech follows."""
    heard = 0
    for index, (begin, finish) in enumerate(chunks):
        if heard >= words * WORD_SECONDS * SAMPLE_RATE and begin > 0:
            after = sum(b - a for a, b in chunks[index:])
            return max(0, begin - SAMPLE_RATE // 4) if after >= GAP_HEARD else None
        heard += finish - begin
    return None


def speech_within(samples: Any) -> int | None:
    """Where speech starts in a pause between two segments, a little before the voice
    detector's onset; None unless it hears GAP_HEARD of speech away from both edges (the
    words either side, timed loosely, are not speech Whisper missed)."""
    if samples.size < GAP_HEARD + 2 * MIN_GAP:
        return None
    low, high = MIN_GAP, samples.size - MIN_GAP
    chunks = [(max(a, low), min(b, high)) for a, b in speech_spans(samples, pad_ms=0)]
    chunks = [(a, b) for a, b in chunks if b > a]
    if sum(b - a for a, b in chunks) < GAP_HEARD:
        return None
    return max(0, chunks[0][0] - SAMPLE_RATE // 4)


def speech_after(samples: Any) -> int | None:
    """Where speech starts in `samples` (the audio after a transcript's last segment), a
    little before the voice detector's onset; None when there is less than half a second
    of it. Speech right at the beginning is the last word's own end, timed early: what
    follows it after a pause of MIN_GAP is still looked at (a sentence after it was lost
    otherwise: BENCHMARKS.md, "Issue 20, eighth session")."""
    chunks = speech_spans(samples, pad_ms=0)
    earliest = 0
    while chunks and chunks[0][0] < earliest + MIN_GAP:
        earliest = chunks.pop(0)[1]
    heard = sum(b - a for a, b in chunks)
    if heard < MIN_HEARD:
        return None
    return max(earliest, chunks[0][0] - SAMPLE_RATE // 4)


def speech_spans(samples: Any, pad_ms: int) -> list[tuple[int, int]]:
    """Silero VAD's speech in `samples` as (start, end) sample ranges, split at pauses of
    0.1 s (finer than transcription's 2 s: these callers look for the pauses themselves)."""
    from ffscribe.core.asr.split import speech_chunks

    options = {"min_silence_duration_ms": 100, "speech_pad_ms": pad_ms}
    return [(int(c["start"]), int(c["end"])) for c in speech_chunks(samples, options)]


def shifted(segment: Any, seconds: float) -> Any:
    """A faster-whisper segment (and its words) moved `seconds` later."""
    words = segment.words and [
        replace(w, start=w.start + seconds, end=w.end + seconds) for w in segment.words
    ]
    return replace(segment, start=segment.start + seconds, end=segment.end + seconds, words=words)


def trim_cut_tail(
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
    while end and filler(segments[end - 1], segments[: end - 1], no_speech, log_prob):
        end -= 1
        log.debug(
            "dropped filler before a cut at %.2f s: %s", segments[end].end, segments[end].text
        )
    return segments[:end]


def filler(segment: Any, earlier: Sequence[Any], no_speech: float, log_prob: float) -> bool:
    """Whether `segment` (ours or faster-whisper's) is Whisper filling silence: a high
    no-speech probability, and either a low log-probability or words just said: nearly all
    its word pairs appear in the last PROMPT_WORDS words before it. The filler is not always
    a verbatim repeat ("Thou art now the world's fresh ornament, and tender churl makes
    waste in niggarding" joins two earlier lines of the sonnet); a new line shares few."""
    if segment.no_speech_prob <= no_speech:
        return False
    if segment.avg_logprob < log_prob:
        return True
    return said(segment.text, recent_words(earlier))


def said(text: str, before: list[str]) -> bool:
    """Whether nearly all of `text`'s word pairs (its words, when under three) are in
    `before`; empty text counts as said."""
    words = plain_words(text)
    if not words:
        return True
    if len(words) < 3:  # whole words in a row: "No." is not said in "I know"
        return any(before[i : i + len(words)] == words for i in range(len(before)))
    seen = set(pairwise(before))
    pairs = list(pairwise(words))
    return sum(p in seen for p in pairs) >= REPEATED_PAIRS * len(pairs)


def recent_words(earlier: Sequence[Any]) -> list[str]:
    """The last PROMPT_WORDS plain words of `earlier` segments, reading back only as far as
    needed (a tail decoded after an hour of segments must not rescan the hour)."""
    words: list[str] = []
    for segment in reversed(earlier):
        words[:0] = plain_words(segment.text)
        if len(words) >= PROMPT_WORDS:
            break
    return words[-PROMPT_WORDS:]


def _end(segment: Any) -> int:
    return int(float(segment.end) * SAMPLE_RATE)


def first_clause(text: str) -> str:
    """`text` up to the end of its first clause (a word ending in , . ; : ? or !, not an
    abbreviation such as "Mr." or "U.S."), or the whole text when that clause is all of it."""
    words = text.split()
    for index, word in enumerate(words[:-1]):
        stem = word[:-1]
        if word[-1] not in ",.;:?!" or not any(c.isalnum() for c in stem):
            continue
        if word[-1] == "." and ("." in stem or (len(stem) <= 3 and stem.istitle())):
            continue  # Mr. Dr. St. U.S.
        return (" " if text.startswith(" ") else "") + " ".join(words[: index + 1])
    return text


def _leading_tokens(model: Any, segment: Any, text: str) -> list[int] | None:
    """The first of `segment`'s tokens that spell `text` (a prefix of its text, ending in
    punctuation), None if no prefix does."""
    tokens = [int(t) for t in segment.tokens]
    want = plain_words(text)
    if not want:
        return None
    last_text = model.hf_tokenizer.token_to_id("<|endoftext|>")  # then specials, timestamps
    for count in range(1, len(tokens) + 1):
        spelled = model.hf_tokenizer.decode([t for t in tokens[:count] if t < last_text])
        ending = spelled.rstrip()[-1:]
        if ending and ending in ",.;:?!" and plain_words(spelled)[: len(want)] == want:
            return tokens[:count]
    return None


def plain_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for comparing texts."""
    return [
        w for w in ("".join(c for c in word if c.isalnum()) for word in text.lower().split()) if w
    ]
