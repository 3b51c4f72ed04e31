"""The known-voices options: --voices and --speaker-vectors as VoiceOptions, and --enroll,
which saves a speaker of a finished transcript as a sample in the voices directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ffscribe.core.data.errors import ExitCode, TranscribeError

if TYPE_CHECKING:
    from ffscribe.core.speakers.voices import VoiceOptions


def voice_options(
    directory: Path | None, vectors: bool, speaker_names: str | None
) -> VoiceOptions | None:
    """VoiceOptions when --voices or --speaker-vectors asks for them; --speaker-names
    would rename the speakers a second time, so it cannot come with --voices."""
    if directory is None and not vectors:
        return None
    if directory is not None and speaker_names:
        raise typer.BadParameter("--voices names the speakers: leave out --speaker-names")
    if directory is not None and not directory.is_dir():
        raise typer.BadParameter(f"{directory} is not a directory", param_hint="--voices")
    from ffscribe.core.speakers.voices import VoiceOptions

    return VoiceOptions(directory=directory, vectors=vectors)


def enroll_voices(
    inputs: list[str], pairs: list[str], directory: Path | None, output_dir: Path | None
) -> int:
    """--enroll SPEAKER=NAME for each local input: its JSON (in --output-dir, else beside
    it, named as the default template names it) says when SPEAKER talks; that speech is
    written to DIR/NAME/. Returns the exit status; every failure is reported on stderr."""
    if directory is None:
        raise typer.BadParameter("--enroll needs --voices DIR, where the samples go")
    wanted = [_pair(text) for text in pairs]
    from ffscribe.core.speakers.voices import enroll_from_transcript

    code = ExitCode.OK
    for item in inputs:
        media = Path(item)
        transcript = (output_dir or media.parent) / f"{media.stem}.json"
        for label, name in wanted:
            try:
                written = enroll_from_transcript(media, transcript, label, name, directory)
            except TranscribeError as exc:
                print(f"error: {item}: {exc.message}", file=sys.stderr)
                code = max(code, exc.exit_code)
                continue
            print(f"{item}: {label} enrolled as {name}: {written}", file=sys.stderr)
    return int(code)


def _pair(text: str) -> tuple[str, str]:
    label, sep, name = text.partition("=")
    if not sep or not label.strip() or not name.strip():
        raise typer.BadParameter(f"{text!r} is not SPEAKER=NAME", param_hint="--enroll")
    return label.strip(), name.strip()
