"""The one data model every stage fills and every writer reads, and its JSON form.

The JSON is a superset of openai-whisper's result (`text`, `segments`, `language`) and
PaddleX's (`input_path`), so tools written for either can read it, and every other output
format can be re-rendered from it without running the model again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypedDict, TypeVar, cast

from ffscribe.core import __version__

SourceKind = Literal["file", "url", "feed-item", "pipe"]
T = TypeVar("T")


@dataclass(frozen=True)
class Word:
    """One word with its timing; `word` keeps Whisper's leading space."""

    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "word": self.word,
            "probability": self.probability,
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Word:
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            word=str(data["word"]),
            probability=float(data.get("probability", 1.0)),
            speaker=data.get("speaker"),
        )


@dataclass(frozen=True)
class Segment:
    """One decoded segment, with openai-whisper's fields; times on the input's timeline."""

    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: tuple[int, ...] = ()
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    music: bool | None = None
    language: str | None = None  # the language it was decoded in
    language_probability: float | None = None  # the detector's, for its region

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "seek": self.seek,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "tokens": list(self.tokens),
            "temperature": self.temperature,
            "avg_logprob": self.avg_logprob,
            "compression_ratio": self.compression_ratio,
            "no_speech_prob": self.no_speech_prob,
            "words": [w.to_dict() for w in self.words],
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        if self.music is not None:
            out["music"] = self.music
        if self.language is not None:
            out["language"] = self.language
            out["language_probability"] = self.language_probability
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        return cls(
            id=int(data.get("id", 0)),
            seek=int(data.get("seek", 0)),
            start=float(data["start"]),
            end=float(data["end"]),
            text=str(data["text"]),
            tokens=tuple(int(t) for t in data.get("tokens", ())),
            temperature=float(data.get("temperature", 0.0)),
            avg_logprob=float(data.get("avg_logprob", 0.0)),
            compression_ratio=float(data.get("compression_ratio", 0.0)),
            no_speech_prob=float(data.get("no_speech_prob", 0.0)),
            words=tuple(Word.from_dict(w) for w in data.get("words") or ()),
            speaker=data.get("speaker"),
            music=data.get("music"),
            language=data.get("language"),
            language_probability=_float_or_none(data.get("language_probability")),
        )


@dataclass(frozen=True)
class Source:
    """Where an input came from: a local file, a URL, a feed item or standard input."""

    kind: SourceKind
    uri: str
    title: str | None = None
    published: str | None = None
    link: str | None = None  # a feed episode's web page

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "uri": self.uri}
        for key in ("title", "published", "link"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        return cls(
            kind=data.get("kind", "file"),
            uri=str(data.get("uri", "")),
            title=data.get("title"),
            published=data.get("published"),
            link=data.get("link"),
        )


@dataclass(frozen=True)
class ModelInfo:
    """Which model made the transcript, on which device, at which precision."""

    name: str
    device: str
    compute_type: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "compute_type": self.compute_type}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        return cls(
            name=str(data.get("name", "")),
            device=str(data.get("device", "")),
            compute_type=str(data.get("compute_type", "")),
        )


@dataclass(frozen=True)
class Turn:
    """A stretch of time one speaker talks, as a diarizer found it (RTTM's SPEAKER line)."""

    start: float
    end: float
    speaker: str

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "speaker": self.speaker}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        return cls(float(data["start"]), float(data["end"]), str(data["speaker"]))


@dataclass(frozen=True)
class Speaker:
    """One speaker of the input and how long they talk in all; with --voices, how close the
    voice is to the nearest enrolled person (`label` is the diarizer's label when a name was
    taken); with --speaker-vectors, the mean speaker embedding and the encoder that made it."""

    id: str
    speech_seconds: float
    label: str | None = None  # SPEAKER_nn before a known voice's name replaced it
    nearest: str | None = None  # the closest enrolled person, named or not
    similarity: float | None = None  # cosine to `nearest`
    margin: float | None = None  # over the next enrolled person
    vector: tuple[float, ...] | None = None
    encoder: str | None = None  # the encoder behind `vector`

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "speech_seconds": self.speech_seconds}
        for key in ("label", "nearest", "similarity", "margin"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.vector is not None:
            out["vector"] = {
                "encoder": self.encoder,
                "dimension": len(self.vector),
                "values": list(self.vector),
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Speaker:
        vector = data.get("vector")
        return cls(
            str(data["id"]),
            float(data.get("speech_seconds", 0.0)),
            label=_optional(str, data.get("label")),
            nearest=_optional(str, data.get("nearest")),
            similarity=_optional(float, data.get("similarity")),
            margin=_optional(float, data.get("margin")),
            vector=tuple(float(v) for v in vector["values"]) if vector else None,
            encoder=str(vector["encoder"]) if vector else None,
        )


def _optional(kind: Callable[[Any], T], value: Any) -> T | None:
    """`kind(value)`, or None where the field is absent (JSONs written before it existed)."""
    return None if value is None else kind(value)


@dataclass(frozen=True)
class MusicRegion:
    """A stretch of background music; `speech` tells whether someone talks over it."""

    start: float
    end: float
    confidence: float
    speech: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "confidence": self.confidence,
            "speech": self.speech,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MusicRegion:
        return cls(
            float(data["start"]),
            float(data["end"]),
            float(data.get("confidence", 1.0)),
            bool(data.get("speech", False)),
        )


@dataclass(frozen=True)
class MusicWindow:
    """A fixed window with a yes/no music verdict (PAI's background-music view)."""

    start: float
    end: float
    music: bool
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "music": self.music,
            "confidence": self.confidence,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MusicWindow:
        return cls(
            float(data["start"]),
            float(data["end"]),
            bool(data["music"]),
            float(data.get("confidence", 0.0)),
        )


@dataclass(frozen=True)
class LanguageShare:
    """One language of the input: its seconds of transcribed speech and their share."""

    language: str
    seconds: float
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"language": self.language, "seconds": self.seconds, "share": self.share}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LanguageShare:
        return cls(str(data["language"]), float(data["seconds"]), float(data["share"]))


@dataclass(frozen=True)
class LanguageWindow:
    """A fixed window, whether it holds speech, and the language of that speech (PAI's
    per-window language detector); `language` is None where nobody speaks."""

    start: float
    end: float
    language: str | None
    probability: float
    speech: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "language": self.language,
            "probability": self.probability,
            "speech": self.speech,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LanguageWindow:
        return cls(
            float(data["start"]),
            float(data["end"]),
            data.get("language"),
            float(data.get("probability") or 0.0),
            bool(data.get("speech", False)),
        )


class ModelRecord(TypedDict):
    """The model options a transcript was made with (ModelOptions, as JSON)."""

    name: str
    device: str
    compute_type: str
    threads: int
    jobs: int
    download_root: str | None


class DecodeRecord(TypedDict):
    """Whisper's decoding options (DecodeOptions, as JSON)."""

    language: str | None
    task: str
    beam_size: int
    best_of: int
    patience: float
    length_penalty: float
    temperatures: list[float]
    compression_ratio_threshold: float | None
    log_prob_threshold: float | None
    no_speech_threshold: float | None
    condition_on_previous_text: bool
    initial_prompt: str | None
    hotwords: str | None
    word_timestamps: bool
    vad: bool
    vad_min_silence_ms: int
    batch_size: int


class ClipRecord(TypedDict):
    start: float
    duration: float | None
    audio_track: int | None
    normalize: bool


class MusicRecord(TypedDict):
    threshold: float
    window_seconds: float | None
    skip_music: bool


class VoicesRecord(TypedDict):
    directory: str | None
    vectors: bool
    similarity: float
    margin: float
    cache: str | None


class _DiarizeFields(TypedDict):
    backend: str
    speakers: int | None
    min_speakers: int | None
    max_speakers: int | None
    model: str | None
    device: str
    speaker_names: list[str]


class DiarizeRecord(_DiarizeFields, total=False):
    """The speaker options (DiarizeOptions without the token, and the names asked for)."""

    voices: VoicesRecord


class LiveRecord(TypedDict):
    step: float
    min_speech: float
    patience: float
    end_silence: float
    trim_after: float
    sentence_cuts: bool
    max_buffer: float
    max_segment: float
    prompt_chars: int
    window: float


class OptionsRecord(TypedDict, total=False):
    """The options a transcript was made with, as its JSON `options` records them: each stage
    that ran has its entry (a live session only `live`)."""

    model: ModelRecord
    decode: DecodeRecord
    clip: ClipRecord
    music: MusicRecord
    language_windows: float
    diarize: DiarizeRecord
    live: LiveRecord


@dataclass(frozen=True)
class Transcript:
    """Everything known about one transcribed input; what every writer renders."""

    input_path: str
    source: Source
    duration: float
    language: str
    language_probability: float
    segments: tuple[Segment, ...]
    model: ModelInfo
    timings: Mapping[str, float] = field(default_factory=dict)
    options: OptionsRecord = field(default_factory=lambda: OptionsRecord())
    clip_start: float = 0.0
    speakers: tuple[Speaker, ...] | None = None  # None: not diarized
    turns: tuple[Turn, ...] = ()
    music: tuple[MusicRegion, ...] | None = None  # None: music not detected
    music_windows: tuple[MusicWindow, ...] = ()
    languages: tuple[LanguageShare, ...] = ()  # each language's share of the speech
    language_windows: tuple[LanguageWindow, ...] = ()
    tool: str = f"ffscribe {__version__}"

    @property
    def text(self) -> str:
        """The whole text, as openai-whisper joins it: segment texts back to back."""
        return "".join(s.text for s in self.segments).strip()

    def with_segments(self, segments: Sequence[Segment]) -> Transcript:
        return replace(self, segments=tuple(segments))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_path": self.input_path,
            "source": self.source.to_dict(),
            "duration": self.duration,
            "clip_start": self.clip_start,
            "language": self.language,
            "language_probability": self.language_probability,
        }
        if self.languages:
            out["languages"] = [share.to_dict() for share in self.languages]
        out.update(
            text=self.text,
            segments=[s.to_dict() for s in self.segments],
        )
        if self.speakers is not None:
            out["speakers"] = [s.to_dict() for s in self.speakers]
            out["turns"] = [t.to_dict() for t in self.turns]
        if self.music is not None:
            out["music"] = [m.to_dict() for m in self.music]
        if self.music_windows:
            out["music_windows"] = [w.to_dict() for w in self.music_windows]
        if self.language_windows:
            out["language_windows"] = [w.to_dict() for w in self.language_windows]
        out.update(
            model=self.model.to_dict(),
            timings=dict(self.timings),
            options=dict(self.options),
            tool=self.tool,
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        """Rebuild a Transcript from its JSON form; raises KeyError/ValueError when malformed."""
        return cls(
            input_path=str(data.get("input_path", "")),
            source=Source.from_dict(data.get("source") or {}),
            duration=float(data["duration"]),
            language=str(data.get("language") or ""),
            language_probability=float(data.get("language_probability") or 0.0),
            segments=tuple(Segment.from_dict(s) for s in data["segments"]),
            model=ModelInfo.from_dict(data.get("model") or {}),
            timings=dict(data.get("timings") or {}),
            options=cast(OptionsRecord, dict(data.get("options") or {})),
            clip_start=float(data.get("clip_start") or 0.0),
            speakers=_maybe(Speaker.from_dict, data.get("speakers")),
            turns=tuple(Turn.from_dict(t) for t in data.get("turns") or ()),
            music=_maybe(MusicRegion.from_dict, data.get("music")),
            music_windows=tuple(MusicWindow.from_dict(w) for w in data.get("music_windows") or ()),
            languages=tuple(LanguageShare.from_dict(x) for x in data.get("languages") or ()),
            language_windows=tuple(
                LanguageWindow.from_dict(w) for w in data.get("language_windows") or ()
            ),
            tool=str(data.get("tool") or f"ffscribe {__version__}"),
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        return cls.from_dict(json.loads(text))

    # PaddleX-style conveniences: a result that prints itself and saves its JSON.
    def print(self) -> None:
        """Write the plain text to standard output (for interactive and notebook use)."""
        print(self.text)

    def save_to_json(self, path: str | Path) -> Path:
        """Write the JSON atomically and return where: as PaddleX's results do, a `path`
        ending in `.json` is the file, anything else a directory (made if missing) that
        receives `{stem}.json`, the input's name with its extension swapped."""
        from ffscribe.core.batch.outputs import atomic_write_text

        dest = Path(path)
        if dest.suffix.lower() != ".json":
            dest = dest / f"{Path(self.input_path).stem or 'transcript'}.json"
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dest, self.to_json() + "\n")
        return dest


def _maybe(build: Callable[[Mapping[str, Any]], T], items: Any) -> tuple[T, ...] | None:
    """A tuple of `build(item)`, or None when the key was absent (the stage did not run)."""
    return None if items is None else tuple(build(i) for i in items)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def is_transcript_json(path: Path) -> bool:
    """True when `path` is a JSON file that looks like one of our results (for re-rendering)."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and (b'"input_path"' in head or b'"segments"' in head)
