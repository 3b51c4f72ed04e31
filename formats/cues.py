"""Cue building for subtitles: segments split into lines and cues on word boundaries.

Modelled on openai-whisper's `SubtitlesWriter.iterate_result`, with one difference: a cue
never spans two segments, so a cue keeps its segment's speaker and stays inside its times.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ffscribe.core.data.transcript import Segment

from .base import WriterOptions, one_line, to_ms

Lines = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in milliseconds, and its lines as word pieces to join."""

    start: int
    end: int
    lines: Lines
    speaker: str | None = None
    highlight: int | None = None  # index, counted across all lines, of the word to underline


@dataclass(frozen=True)
class _Token:
    """A word as shown: one leading space when it follows another word, times clamped."""

    text: str
    start: float
    end: float


def iter_cues(segments: Sequence[Segment], options: WriterOptions) -> Iterator[Cue]:
    """Every cue of every segment with text, in order."""
    for segment in segments:
        if not segment.text.strip():
            continue
        tokens = _tokens(segment)
        if options.shapes_cues and tokens:
            for block in _split(tokens, options):
                yield from _block_cues(block, segment.speaker, highlight=options.highlight_words)
        else:
            yield _whole_segment(segment, options.max_line_width)


def _whole_segment(segment: Segment, width: int | None) -> Cue:
    """The segment's text over the segment's span, wrapped on spaces when a width is set."""
    text = one_line(segment.text)
    if width is None:
        wrapped = [text]
    else:
        wrapped = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    lines = tuple((line,) for line in wrapped)
    start = to_ms(segment.start)
    return Cue(start, max(start, to_ms(segment.end)), lines, segment.speaker)


def _tokens(segment: Segment) -> list[_Token]:
    """The segment's non-empty words, kept inside the segment and never running backwards."""
    tokens: list[_Token] = []
    floor = segment.start
    for word in segment.words:
        body = one_line(word.word)
        if not body:
            continue
        text = " " + body if word.word[:1].isspace() else body
        start = min(max(word.start, floor), segment.end)
        end = min(max(word.end, start), segment.end)
        tokens.append(_Token(text, start, end))
        floor = end
    return tokens


def _split(tokens: list[_Token], options: WriterOptions) -> list[list[list[_Token]]]:
    """Tokens grouped into cues of lines: a line breaks when the next word would not fit
    the width or word limit, and a cue breaks when it already holds `max_line_count` lines."""
    width = options.max_line_width
    per_line = options.max_words_per_line
    max_lines = options.max_line_count or (1 if per_line is not None else None)
    blocks: list[list[list[_Token]]] = []
    lines: list[list[_Token]] = []
    line: list[_Token] = []
    line_len = 0
    for token in tokens:
        fits_width = width is None or line_len + len(token.text) <= width
        fits_words = per_line is None or len(line) < per_line
        if line and fits_width and fits_words:
            line.append(token)
            line_len += len(token.text)
            continue
        if line:
            lines.append(line)
        if lines and max_lines is not None and len(lines) >= max_lines:
            blocks.append(lines)
            lines = []
        first = _Token(token.text.lstrip(), token.start, token.end)
        line, line_len = [first], len(first.text)
    lines.append(line)
    blocks.append(lines)
    return blocks


def _block_cues(block: list[list[_Token]], speaker: str | None, *, highlight: bool) -> list[Cue]:
    """One cue for a block of lines, or with `highlight`, one per word with the gaps filled."""
    lines: Lines = tuple(tuple(t.text for t in line) for line in block)
    words = [t for line in block for t in line]
    start, end = to_ms(words[0].start), to_ms(words[-1].end)
    if not highlight:
        return [Cue(start, end, lines, speaker)]
    cues: list[Cue] = []
    last = start
    for index, word in enumerate(words):
        word_start, word_end = to_ms(word.start), to_ms(word.end)
        if word_start > last:  # a pause before this word: show the cue with nothing underlined
            cues.append(Cue(last, word_start, lines, speaker))
            last = word_start
        if word_end > word_start:
            cues.append(Cue(word_start, word_end, lines, speaker, highlight=index))
            last = word_end
    if not cues:  # every word rounded to zero length: still show the text once
        cues.append(Cue(start, end, lines, speaker))
    return cues
