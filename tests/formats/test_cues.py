"""Cue shaping invariants over many random segments, and the edge cases behind them."""

from __future__ import annotations

import itertools
import random

import pytest
import srt

from ffscribe.core.data.transcript import ModelInfo, Segment, Source, Transcript, Word
from ffscribe.formats import WriterOptions, render
from ffscribe.formats.base import to_ms
from ffscribe.formats.cues import Cue, iter_cues

ALPHABET = "abcdefghijklmnopqrstuvwxyzéüß日本語🎉"


def _random_segment(rng: random.Random, index: int, start: float) -> Segment:
    words: list[Word] = []
    t = start
    for _ in range(rng.randint(1, 25)):
        body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14)))
        gap = rng.choice([0.0, 0.05, 0.3, 2.0, -0.05])  # a negative gap: words that overlap
        begin = max(start, t + gap)
        t = begin + rng.uniform(0.0, 0.6)
        space = " " if rng.random() < 0.85 else ""  # some scripts put no space between words
        words.append(Word(begin, t, space + body, 0.9))
    end = t - rng.choice([0.0, 0.0, 0.1])  # sometimes the last word overruns its segment
    text = "".join(w.word for w in words)
    return Segment(id=index, start=start, end=max(start, end), text=text, words=tuple(words))


def _random_options(rng: random.Random) -> WriterOptions:
    return WriterOptions(
        max_line_width=rng.choice([None, 1, 8, 20, 42]),
        max_line_count=rng.choice([None, 1, 2, 3]),
        max_words_per_line=rng.choice([None, None, 1, 3]),
        highlight_words=rng.random() < 0.3,
    )


def _pieces(cue: Cue) -> list[str]:
    return [piece for line in cue.lines for piece in line]


def _shown_words(cues: list[Cue]) -> list[str]:
    """The words on screen, each block of lines once (highlighting repeats a block per word)."""
    blocks = [lines for lines, _ in itertools.groupby(cues, key=lambda c: c.lines)]
    return [piece.strip() for lines in blocks for line in lines for piece in line]


@pytest.mark.parametrize("seed", range(300))
def test_cue_invariants(seed: int) -> None:
    rng = random.Random(seed)
    segment = _random_segment(rng, 0, rng.uniform(0, 5000))
    options = _random_options(rng)
    cues = list(iter_cues([segment], options))
    width, count = options.max_line_width, options.max_line_count

    previous_end = to_ms(segment.start)
    for cue in cues:  # monotonic, never overlapping, inside the segment
        assert previous_end <= cue.start <= cue.end <= to_ms(segment.end)
        previous_end = cue.end
    if not options.shapes_cues:
        assert [_pieces(c) for c in cues] == [[segment.text.strip()]]
        return
    for cue in cues:
        if count is not None:
            assert len(cue.lines) <= count
        for line in cue.lines:
            shown = "".join(line)
            assert shown == shown.strip()
            if width is not None and len(line) > 1:
                assert len(shown) <= width  # only a lone word may overrun the width
            if options.max_words_per_line is not None:
                assert len(line) <= options.max_words_per_line
    words = [w.word.strip() for w in segment.words]
    assert _shown_words(cues) == words  # every word, in order, never cut
    if options.highlight_words:
        # Each word is underlined once, in order; words that last no time at all are skipped.
        underlined = iter(_pieces(c)[c.highlight].strip() for c in cues if c.highlight is not None)
        remaining = iter(words)
        assert all(any(w == u for w in remaining) for u in underlined)


@pytest.mark.parametrize("seed", range(40))
def test_rendered_srt_parses(seed: int) -> None:
    rng = random.Random(seed)
    segments, start = [], 0.0
    for index in range(rng.randint(1, 6)):
        segment = _random_segment(rng, index, start)
        segments.append(segment)
        start = segment.end + rng.uniform(0, 3)
    transcript = Transcript(
        input_path="x.wav",
        source=Source("file", "x.wav"),
        duration=start,
        language="en",
        language_probability=1.0,
        segments=tuple(segments),
        model=ModelInfo("tiny.en", "cpu", "int8"),
    )
    options = _random_options(rng)
    parsed = list(srt.parse(render(transcript, "srt", options)))
    assert parsed, "every segment had text"
    assert all(a.start <= b.start for a, b in itertools.pairwise(parsed))
    assert render(transcript, "vtt", options).startswith("WEBVTT\n\n")
