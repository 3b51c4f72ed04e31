"""The pipeline object: options in, a Transcript out; models load once and serve every input.

from ffscribe.core.pipeline import Pipeline, PipelineOptions
result = Pipeline(PipelineOptions()).run("talk.mp4")
result.print(); result.save_to_json("out/")
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ffscribe.core.options import ClipOptions, DecodeOptions, ModelOptions
from ffscribe.core.transcript import Source, Transcript

if TYPE_CHECKING:
    from ffscribe.core.asr import ProgressCallback, Recognizer


@dataclass(frozen=True)
class PipelineOptions:
    """Everything that decides what a transcript contains (not where it is written)."""

    model: ModelOptions = field(default_factory=ModelOptions)
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    clip: ClipOptions = field(default_factory=ClipOptions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": asdict(self.model),
            "decode": self.decode.to_dict(),
            "clip": asdict(self.clip),
        }


@dataclass(frozen=True)
class Stage:
    """One step of the plan, named for `--dry-run` and for the timings in the result."""

    name: str
    detail: str


class Pipeline:
    """Transcribes inputs one after another with one loaded model."""

    def __init__(self, options: PipelineOptions | None = None) -> None:
        self.options = options or PipelineOptions()
        self._recognizer: Recognizer | None = None

    def plan(self) -> list[Stage]:
        """The stages each input goes through, in order, as the options make them."""
        clip = self.options.clip
        decode = self.options.decode
        media = "ffmpeg -> 16 kHz mono float32"
        if clip.start or clip.duration is not None:
            media += f", from {clip.start:g}s" + (
                f" for {clip.duration:g}s" if clip.duration is not None else ""
            )
        if clip.audio_track is not None:
            media += f", audio track {clip.audio_track}"
        if clip.normalize:
            media += ", loudness normalized"
        asr = (
            f"faster-whisper {self.options.model.name}, {decode.task}, "
            f"language {decode.language or 'auto'}, beam {decode.beam_size}"
            + (", VAD" if decode.vad else "")
            + (", word timestamps" if decode.word_timestamps else "")
            + (f", batched x{decode.batch_size}" if decode.batch_size > 1 else "")
        )
        return [Stage("decode", media), Stage("transcribe", asr)]

    @property
    def recognizer(self) -> Recognizer:
        """The Whisper model, resolved and loaded on first use and kept for later inputs."""
        if self._recognizer is None:
            from ffscribe.core.asr import Recognizer
            from ffscribe.core.models import resolve_model

            opts = self.options.model
            resolved = resolve_model(opts.name, download_root=opts.download_root)
            recognizer = Recognizer(resolved.path, opts.name, opts)
            recognizer.check(self.options.decode)
            self._recognizer = recognizer
        return self._recognizer

    def run(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe one input (a local path, or "pipe:" for media on standard input)."""
        from ffscribe.core.media import load

        timings: dict[str, float] = {}
        fresh_model = self._recognizer is None
        started = time.perf_counter()
        recognizer = self.recognizer
        if fresh_model:
            timings["model_load"] = round(time.perf_counter() - started, 3)
        mark = time.perf_counter()
        audio = load(path, self.options.clip)
        timings["decode"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        found = recognizer.recognize(audio, self.options.decode, progress)
        timings["transcribe"] = round(time.perf_counter() - mark, 3)
        timings["total"] = round(time.perf_counter() - started, 3)
        return Transcript(
            input_path=path,
            source=source or _source_for(path),
            duration=audio.source_duration if audio.source_duration else audio.duration,
            clip_start=audio.offset,
            language=found.language,
            language_probability=found.language_probability,
            segments=found.segments,
            model=recognizer.info,
            timings=timings,
            options=self.options.to_dict(),
        )


def _source_for(path: str) -> Source:
    if path in ("pipe:", "-"):
        return Source(kind="pipe", uri="pipe:")
    return Source(kind="file", uri=str(Path(path).resolve()))
