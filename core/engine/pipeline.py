"""The pipeline object: options in, a Transcript out; models load once and serve every input.

from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
result = Pipeline(PipelineOptions()).run("talk.mp4")
result.print(); result.save_to_json("out/")
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from ffscribe.core.asr.languages import shares, top_probability
from ffscribe.core.asr.recognizer import Recognition
from ffscribe.core.data.errors import MediaError, UsageError
from ffscribe.core.data.options import ClipOptions, DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import (
    ClipRecord,
    DecodeRecord,
    DiarizeRecord,
    LanguageWindow,
    ModelRecord,
    MusicRecord,
    MusicRegion,
    OptionsRecord,
    Segment,
    Source,
    Speaker,
    Transcript,
    Turn,
    VoicesRecord,
)
from ffscribe.core.engine import timeline

if TYPE_CHECKING:
    from ffscribe.core.asr.recognizer import Recognizer
    from ffscribe.core.engine.context import ProgressCallback, RunContext
    from ffscribe.core.media.ffmpeg import Audio
    from ffscribe.core.music.detect import MusicAnalysis, MusicDetector, MusicOptions
    from ffscribe.core.speakers.diarize import Diarizer
    from ffscribe.core.speakers.turns import DiarizeOptions
    from ffscribe.core.speakers.voices import KnownVoices, VoiceOptions

log = logging.getLogger("ffscribe.pipeline")
MIN_HEARD_SECONDS = 0.5  # less than this left after --skip-music: nothing to transcribe
# Decoded audio this much shorter than the stated duration means a cut-off file; less is
# the usual slack of encoder padding and container rounding.
TRUNCATED_SECONDS, TRUNCATED_SHARE = 1.0, 0.05
R = TypeVar("R")


@dataclass(frozen=True)
class PipelineOptions:
    """Everything that decides what a transcript contains (not where it is written)."""

    model: ModelOptions = field(default_factory=ModelOptions)
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    clip: ClipOptions = field(default_factory=ClipOptions)
    music: MusicOptions | None = None  # None: no music detection
    skip_music: bool = False  # keep Whisper away from music-only stretches
    diarize: DiarizeOptions | None = None  # None: no speakers
    speaker_names: tuple[str, ...] = ()
    voices: VoiceOptions | None = None  # --voices / --speaker-vectors
    fail_truncated: bool = False  # a truncated input fails instead of being transcribed
    language_windows: float | None = None  # seconds: per-window language detection; None: off

    def to_dict(self) -> OptionsRecord:
        out = OptionsRecord(
            model=cast(ModelRecord, asdict(self.model)),
            decode=cast(DecodeRecord, self.decode.to_dict()),
            clip=cast(ClipRecord, asdict(self.clip)),
        )
        if self.music is not None:
            out["music"] = MusicRecord(
                threshold=self.music.threshold,
                window_seconds=self.music.window_seconds,
                skip_music=self.skip_music,
            )
        if self.language_windows is not None:
            out["language_windows"] = self.language_windows
        if self.diarize is not None:
            fields = {k: v for k, v in asdict(self.diarize).items() if k != "hf_token"}
            diarize = cast(DiarizeRecord, {**fields, "speaker_names": list(self.speaker_names)})
            if self.voices is not None:
                diarize["voices"] = cast(VoicesRecord, self.voices.to_dict())
            out["diarize"] = diarize
        return out


@dataclass(frozen=True)
class Stage:
    """One step of the plan, named for `--dry-run` and for the timings in the result."""

    name: str
    detail: str


@dataclass
class RunState:
    """What the stages of one input have found so far; each step reads and fills it."""

    path: str
    opts: PipelineOptions
    ctx: RunContext
    audio: Audio | None = None
    music: MusicAnalysis | None = None
    found: Recognition | None = None
    segments: tuple[Segment, ...] = ()
    windows: tuple[LanguageWindow, ...] = ()
    turns: tuple[Turn, ...] = ()
    speakers: tuple[Speaker, ...] | None = None

    @property
    def decoded(self) -> Audio:
        assert self.audio is not None, "the decode step runs first"
        return self.audio


class Step:
    """One stage of the pipeline: whether the options want it, what it does in a word for
    `--dry-run`, and its work on one input; its time goes into the result under its name."""

    name = ""

    def wanted(self, opts: PipelineOptions) -> bool:
        return True

    def describe(self, pipeline: Pipeline) -> str:
        raise NotImplementedError

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        raise NotImplementedError


class Decode(Step):
    name = "decode"

    def describe(self, pipeline: Pipeline) -> str:
        clip = pipeline.options.clip
        media = "ffmpeg -> 16 kHz mono float32"
        if clip.start or clip.duration is not None:
            media += f", from {clip.start:g}s" + (
                f" for {clip.duration:g}s" if clip.duration is not None else ""
            )
        if clip.audio_track is not None:
            media += f", audio track {clip.audio_track}"
        if clip.normalize:
            media += ", loudness normalized"
        return media

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        from ffscribe.core.media.ffmpeg import load

        opts, path = state.opts, state.path
        state.audio = audio = timeline.wrap("media", load)(path, opts.clip)
        short = shortfall(path, audio, opts.clip)
        if short is not None and opts.fail_truncated:
            raise MediaError(f"{short} (--fail-truncated)", stage="decode")
        if short is not None:
            (state.ctx.warn or (lambda text: log.warning("%s: %s", path, text)))(short)


class Music(Step):
    name = "music"

    def wanted(self, opts: PipelineOptions) -> bool:
        return opts.music is not None

    def describe(self, pipeline: Pipeline) -> str:
        skip = ", music-only stretches kept from Whisper" if pipeline.options.skip_music else ""
        return f"YAMNet (AudioSet) ONNX{skip}"

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        assert state.opts.music is not None
        state.music = pipeline.music_detector.detect(state.decoded, state.opts.music)


class Transcribe(Step):
    name = "transcribe"

    def describe(self, pipeline: Pipeline) -> str:
        decode = pipeline.options.decode
        return (
            f"faster-whisper {pipeline.options.model.name}, {decode.task}, "
            f"language {decode.language or 'auto (per region)'}, beam {decode.beam_size}"
            + (", VAD" if decode.vad else "")
            + (", word timestamps" if decode.word_timestamps else "")
            + (f", batched x{decode.batch_size}" if decode.batch_size > 1 else "")
        )

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        music = state.music
        skipped = _music_only(music) if state.opts.skip_music and music else []
        state.found = pipeline._recognize(state.decoded, skipped, state.ctx, state.opts.decode)
        state.segments = state.found.segments


class LanguageWindows(Step):
    name = "languages"

    def wanted(self, opts: PipelineOptions) -> bool:
        return opts.language_windows is not None

    def describe(self, pipeline: Pipeline) -> str:
        seconds = f"{pipeline.options.language_windows:g} s"
        return f"Whisper's language detector on {seconds} windows"

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        assert state.opts.language_windows is not None
        seconds = state.opts.language_windows
        state.windows = pipeline.recognizer.language_windows(state.decoded, seconds)


class Diarize(Step):
    name = "diarize"

    def wanted(self, opts: PipelineOptions) -> bool:
        return opts.diarize is not None

    def describe(self, pipeline: Pipeline) -> str:
        d = pipeline.options.diarize
        assert d is not None
        count = (
            f"{d.speakers} speakers"
            if d.speakers
            else f"speakers {d.min_speakers or 1}-{d.max_speakers or 'any'}"
        )
        return f"{d.backend} backend, {count}"

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        assert state.opts.diarize is not None
        diarizer = pipeline._diarizer_for(state.opts.diarize)
        state.turns = tuple(diarizer.run(state.decoded, state.opts.diarize))


class Align(Step):
    name = "align"

    def wanted(self, opts: PipelineOptions) -> bool:
        return opts.diarize is not None

    def describe(self, pipeline: Pipeline) -> str:
        return "speaker per word, segments split at speaker changes"

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        from ffscribe.core.speakers.align import assign, rename_speakers, speaker_stats

        segments, turns = assign(state.segments, state.turns), state.turns
        if state.opts.speaker_names and state.opts.voices is None:
            segments, turns = rename_speakers(segments, turns, state.opts.speaker_names)
        state.segments, state.turns = tuple(segments), tuple(turns)
        state.speakers = tuple(speaker_stats(turns))


class Voices(Step):
    name = "voices"

    def wanted(self, opts: PipelineOptions) -> bool:
        return opts.diarize is not None and opts.voices is not None

    def describe(self, pipeline: Pipeline) -> str:
        assert pipeline.options.voices is not None
        return pipeline.options.voices.describe()

    def run(self, pipeline: Pipeline, state: RunState) -> None:
        assert state.opts.voices is not None
        known = pipeline._known_voices(state.opts.voices)
        audio = state.decoded
        segments, turns, speakers = known.apply(
            audio.samples, audio.offset, state.segments, state.turns
        )
        state.segments, state.turns, state.speakers = tuple(segments), tuple(turns), tuple(speakers)


STEPS: tuple[Step, ...] = (
    Decode(),
    Music(),
    Transcribe(),
    LanguageWindows(),
    Diarize(),
    Align(),
    Voices(),
)


class Pipeline:
    """Transcribes inputs one after another; each model loads once, on first use."""

    def __init__(self, options: PipelineOptions | None = None) -> None:
        self.options = _complete(options or PipelineOptions())
        self._recognizer: Recognizer | None = None
        self._music: MusicDetector | None = None
        self._diarizer: Diarizer | None = None
        self._voices: KnownVoices | None = None
        self._loading = threading.RLock()  # inputs run in threads share one of each model

    def plan(self) -> list[Stage]:
        """The stages each input goes through, in order, as the options make them."""
        return [Stage(step.name, step.describe(self)) for step in self._steps(self.options)]

    def _steps(self, opts: PipelineOptions) -> list[Step]:
        return [step for step in STEPS if step.wanted(opts)]

    @property
    def recognizer(self) -> Recognizer:
        """The Whisper model, resolved and loaded on first use and kept for later inputs."""
        with self._loading:
            if self._recognizer is None:
                from ffscribe.core.asr.models import resolve_model
                from ffscribe.core.asr.recognizer import Recognizer

                opts = self.options.model
                resolved = resolve_model(opts.name, download_root=opts.download_root)
                recognizer = Recognizer(resolved.path, opts.name, opts)
                recognizer.check(self.options.decode)
                self._recognizer = recognizer
            return self._recognizer

    @property
    def music_detector(self) -> MusicDetector:
        with self._loading:
            if self._music is None:
                from ffscribe.core.music.detect import MusicDetector

                self._music = MusicDetector()
            return self._music

    @property
    def diarizer(self) -> Diarizer:
        """The speaker backend the options name (or, when they name none, the one a run's
        own options asked for first), loaded once."""
        return self._diarizer_for(self.options.diarize)

    def _diarizer_for(self, options: DiarizeOptions | None) -> Diarizer:
        with self._loading:
            if self._diarizer is None:
                from ffscribe.core.speakers.diarize import load_diarizer
                from ffscribe.core.speakers.turns import DiarizeOptions

                self._diarizer, note = load_diarizer(options or DiarizeOptions())
                if note:  # e.g. auto fell back to offline: the user should know which ran
                    log.warning("%s", note)
            return self._diarizer

    def prepare(self) -> None:
        """Load every model the options need, so a missing one fails before any input."""
        _ = self.recognizer
        if self.options.music is not None:
            _ = self.music_detector
        if self.options.diarize is not None:
            _ = self.diarizer
        if self.options.voices is not None:
            _ = self._known_voices(self.options.voices)

    def _known_voices(self, options: VoiceOptions) -> KnownVoices:
        """The enrolled voices, loaded once (with the offline diarizer's encoder if loaded)."""
        with self._loading:
            if self._voices is None:
                from ffscribe.core.speakers.voices import KnownVoices

                encoder = getattr(self._diarizer, "encoder", None)
                self._voices = KnownVoices.load(options, encoder)
            return self._voices

    @property
    def workers(self) -> int:
        """The model workers these options give (resolved without loading the model)."""
        from ffscribe.core.asr.recognizer import resolve_workers

        if self._recognizer is not None:
            return self._recognizer.workers
        return resolve_workers(self.options.model)

    def run(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: ProgressCallback | None = None,
        warn: Callable[[str], None] | None = None,
        context: RunContext | None = None,
        options: PipelineOptions | None = None,
    ) -> Transcript:
        """Transcribe one input (a local path, or "pipe:" for media on standard input).

        `context` comes from the engine (its workers, the job's cancel flag, where finished
        parts are kept, who hears warnings); without one, `progress` is called, `warn` hears
        what the caller should be told (a truncated input; else it is logged), and a long
        input's parts run on threads of their own. `options` replaces the pipeline's own for
        this input (a service's request), with the same model: the models stay loaded."""
        from ffscribe.core.engine.context import RunContext

        opts = self._for_run(options)
        ctx = context or RunContext(progress=progress, warn=warn)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        with self._loading:
            if self._recognizer is None:
                _timed(timings, "model_load", self.prepare)
        state = RunState(path, opts, ctx)
        for step in self._steps(opts):
            ctx.check()
            _timed(timings, step.name, partial(step.run, self, state))
        assert state.audio is not None and state.found is not None
        audio, found, music, segments = state.audio, state.found, state.music, state.segments
        if music is not None:
            segments = flag_music(segments, music.regions)
        timings["total"] = round(time.perf_counter() - started, 3)
        spoken = shares(segments)
        language, probability = found.language, found.language_probability
        if spoken and spoken[0].language != language:  # the most spoken is the input's language
            language = spoken[0].language
            probability = top_probability(segments, language)
        return Transcript(
            input_path=path,
            source=source or _source_for(path),
            duration=audio.source_duration if audio.source_duration else audio.duration,
            clip_start=audio.offset,
            language=language,
            language_probability=probability,
            segments=segments,
            model=self.recognizer.info,
            timings=timings,
            options=opts.to_dict(),
            speakers=state.speakers,
            turns=state.turns,
            music=music.regions if music else None,
            music_windows=music.windows if music else (),
            languages=spoken,
            language_windows=state.windows,
        )

    def _for_run(self, options: PipelineOptions | None) -> PipelineOptions:
        """A run's own options, checked against the loaded model."""
        if options is None:
            return self.options
        opts = _complete(options)
        if opts.model != self.options.model:
            raise UsageError(
                f"this pipeline has {self.options.model.name} loaded, not {opts.model.name}"
            )
        self.recognizer.check(opts.decode)
        return opts

    def _recognize(
        self,
        audio: Audio,
        skipped: list[tuple[float, float]],
        ctx: RunContext,
        decode: DecodeOptions,
    ) -> Recognition:
        """Whisper over the audio, kept off the `skipped` (music-only) stretches: they are
        silenced, so VAD drops them and no window hears them, and anything Whisper still puts
        there (with --no-vad it answers silence with "You") is dropped."""
        if not skipped:
            return self.recognizer.recognize(audio, decode, context=ctx)
        if sum(b - a for a, b in skipped) >= audio.duration - MIN_HEARD_SECONDS:
            if ctx.progress is not None:
                ctx.progress(audio.duration, audio.duration)
            return Recognition((), decode.language or "", 0.0)
        # Segments found inside music are dropped below: none is final until then.
        quiet = replace(ctx, segment=None)
        found = self.recognizer.recognize(_silenced(audio, skipped), decode, context=quiet)
        kept = [s for s in found.segments if _share_inside(s, skipped) <= 0.5]
        segments = tuple(replace(s, id=i) for i, s in enumerate(kept))
        if ctx.segment is not None:
            for segment in segments:
                ctx.segment(segment)
        return replace(found, segments=segments)


def _complete(opts: PipelineOptions) -> PipelineOptions:
    """The options with what they imply: speakers are assigned per word, so diarization
    turns word times on; --skip-music needs the music found."""
    if opts.diarize is not None and not opts.decode.word_timestamps:
        opts = replace(opts, decode=replace(opts.decode, word_timestamps=True))
    if opts.skip_music and opts.music is None:
        from ffscribe.core.music.detect import MusicOptions

        opts = replace(opts, music=MusicOptions())
    return opts


def shortfall(path: str, audio: Audio, clip: ClipOptions) -> str | None:
    """What to say when ffmpeg decoded clearly less than the input states it holds (a cut
    download or copy: ffmpeg decodes what is there and exits 0); None when it is whole."""
    from ffscribe.core.media.ffmpeg import PIPE, stated_duration

    stated = None if path == PIPE else stated_duration(path)
    if stated is None:
        return None
    expected = max(0.0, stated - clip.start)
    if clip.duration is not None:
        expected = min(expected, clip.duration)
    if expected - audio.duration <= max(TRUNCATED_SECONDS, TRUNCATED_SHARE * expected):
        return None
    return (
        f"truncated: decoded {audio.duration:.1f}s of the {expected:.1f}s it states "
        f"({audio.duration / expected:.0%})"
    )


def flag_music(segments: Sequence[Segment], regions: Sequence[MusicRegion]) -> tuple[Segment, ...]:
    """Mark each segment that overlaps music for more than half its length."""
    out = []
    for seg in segments:
        length = max(seg.end - seg.start, 1e-6)
        covered = sum(max(0.0, min(seg.end, r.end) - max(seg.start, r.start)) for r in regions)
        out.append(replace(seg, music=covered / length > 0.5))
    return tuple(out)


def _music_only(music: MusicAnalysis) -> list[tuple[float, float]]:
    from ffscribe.core.music.detect import music_only_spans

    return music_only_spans(music)


def _silenced(audio: Audio, spans: Sequence[tuple[float, float]]) -> Audio:
    """The same audio with `spans` (seconds on the source timeline) set to silence, so every
    timestamp stays where it was."""
    samples = audio.samples.copy()
    rate = audio.sample_rate
    for start, end in spans:
        a = max(0, int((start - audio.offset) * rate))
        b = min(samples.size, int((end - audio.offset) * rate))
        samples[a:b] = 0.0
    return replace(audio, samples=samples)


def _share_inside(segment: Segment, spans: Sequence[tuple[float, float]]) -> float:
    length = max(segment.end - segment.start, 1e-6)
    inside = sum(max(0.0, min(segment.end, b) - max(segment.start, a)) for a, b in spans)
    return inside / length


def _timed(timings: dict[str, float], name: str, work: Callable[[], R]) -> R:
    mark = time.perf_counter()
    result = work()
    timings[name] = round(time.perf_counter() - mark, 3)
    return result


def _source_for(path: str) -> Source:
    if path in ("pipe:", "-"):
        return Source(kind="pipe", uri="pipe:")
    return Source(kind="file", uri=str(Path(path).resolve()))
