"""Rewrite the golden outputs in tests/formats/golden/ from the Transcript JSON files there.

Run by hand from the repository root, never by pytest:

    /work/venv/bin/python -m tests.formats.regen_golden

then review the diff line by line before committing: a golden file is only worth having if a
person has checked that it is right, not merely that it is what the code writes today.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ffscribe.core.data.transcript import Transcript
from ffscribe.formats import DEFAULT_OPTIONS, FORMAT_NAMES, WRITERS, WriterOptions, render

GOLDEN = Path(__file__).parent / "golden"

# Variants beyond the defaults: name -> (options, formats rendered with them).
VARIANTS: dict[str, tuple[WriterOptions, tuple[str, ...]]] = {
    "w20": (WriterOptions(max_line_width=20, max_line_count=2), ("srt", "vtt")),
    "highlight": (WriterOptions(highlight_words=True), ("vtt", "srt")),
    "words3": (WriterOptions(max_words_per_line=3), ("srt",)),
}


@dataclass(frozen=True)
class GoldenCase:
    """One expected output: `source` rendered as `fmt` with `options` should equal `expected`."""

    source: Path
    fmt: str
    options: WriterOptions
    expected: Path

    @property
    def id(self) -> str:
        return self.expected.name


def inputs() -> list[Path]:
    """The Transcript JSON files: `<stem>.json` with no variant in the name."""
    return sorted(p for p in GOLDEN.glob("*.json") if "." not in p.stem)


def cases() -> Iterator[GoldenCase]:
    """Every golden output: each input in every format, then in each variant."""
    for source in inputs():
        for fmt in FORMAT_NAMES:
            expected = source.with_name(f"{source.stem}.{WRITERS[fmt].extension}")
            yield GoldenCase(source, fmt, DEFAULT_OPTIONS, expected)
        for variant, (options, formats) in VARIANTS.items():
            for fmt in formats:
                name = f"{source.stem}.{variant}.{WRITERS[fmt].extension}"
                yield GoldenCase(source, fmt, options, source.with_name(name))


def rendered(case: GoldenCase) -> str:
    transcript = Transcript.from_json(case.source.read_text(encoding="utf-8"))
    return render(transcript, case.fmt, case.options)


def main() -> None:
    # Render everything before writing anything: `<stem>.json` is both an input and an output.
    outputs = [(case, rendered(case)) for case in cases()]
    for case, text in outputs:
        # newline="" so the files hold exactly what the writers produce, on every platform.
        with case.expected.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"wrote {case.expected.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
