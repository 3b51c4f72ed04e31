"""Typer declarations of the media, subtitle, speaker and music options, kept apart so
app.py stays readable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

P_MEDIA = "Media"
P_NET = "Downloads"
P_SUBS = "Subtitles"
P_SPEAKERS = "Speakers"
P_MUSIC = "Background music"
P_MODEL = "Model and device"
P_DECODE = "Decoding"
P_CLUSTER = "Cluster (docs/ray.md)"

Diarize = Annotated[
    bool,
    typer.Option(
        "--diarize",
        help="Label speakers (per word, then per segment); RTTM output becomes available.",
        rich_help_panel=P_SPEAKERS,
    ),
]
Diarizer = Annotated[
    str,
    typer.Option(
        "--diarizer",
        help="auto (pyannote where its pipeline loads, else offline), pyannote, or offline "
        "(a speaker encoder that ships in its package; no account, no network).",
        rich_help_panel=P_SPEAKERS,
    ),
]
Speakers = Annotated[
    int | None,
    typer.Option(
        "--speakers",
        min=1,
        help="Exact number of speakers (default: estimated).",
        rich_help_panel=P_SPEAKERS,
    ),
]
MinSpeakers = Annotated[
    int | None,
    typer.Option(
        "--min-speakers", min=1, help="At least this many speakers.", rich_help_panel=P_SPEAKERS
    ),
]
MaxSpeakers = Annotated[
    int | None,
    typer.Option(
        "--max-speakers", min=1, help="At most this many speakers.", rich_help_panel=P_SPEAKERS
    ),
]
DiarizationModel = Annotated[
    str | None,
    typer.Option(
        "--diarization-model",
        metavar="NAME|DIR",
        help="pyannote pipeline name or local directory (default: "
        "pyannote/speaker-diarization-community-1).",
        rich_help_panel=P_SPEAKERS,
    ),
]
HfToken = Annotated[
    str | None,
    typer.Option(
        "--hf-token",
        envvar="HF_TOKEN",
        show_envvar=True,
        help="Hugging Face token for gated pyannote models.",
        rich_help_panel=P_SPEAKERS,
    ),
]
SpeakerNames = Annotated[
    str | None,
    typer.Option(
        "--speaker-names",
        metavar="NAMES",
        help="Comma-separated names for the speakers, in order of first appearance.",
        rich_help_panel=P_SPEAKERS,
    ),
]
Voices = Annotated[
    Path | None,
    typer.Option(
        "--voices",
        metavar="DIR",
        help="Name speakers after known voices: DIR/NAME.wav or DIR/NAME/*.wav, 5-30 s of one "
        "person each. A speaker takes a name only when clearly that person's; others keep "
        "SPEAKER_nn (turns --diarize on).",
        rich_help_panel=P_SPEAKERS,
    ),
]
SpeakerVectors = Annotated[
    bool,
    typer.Option(
        "--speaker-vectors",
        help="Add each speaker's mean voice embedding (encoder and dimension named) to the "
        "JSON, to search an archive by voice (turns --diarize on).",
        rich_help_panel=P_SPEAKERS,
    ),
]
Enroll = Annotated[
    list[str] | None,
    typer.Option(
        "--enroll",
        metavar="SPEAKER=NAME",
        help="With --voices: read the finished JSON of each input (beside it, or in "
        "--output-dir) and save SPEAKER's speech as a sample of NAME in the voices "
        "directory; nothing is transcribed. Repeatable.",
        rich_help_panel=P_SPEAKERS,
    ),
]
DetectMusic = Annotated[
    bool,
    typer.Option(
        "--detect-music",
        help="Find background music (YAMNet); regions go into JSON "
        "and segments over music are flagged.",
        rich_help_panel=P_MUSIC,
    ),
]
SkipMusic = Annotated[
    bool,
    typer.Option(
        "--skip-music",
        help="Keep Whisper away from music-only stretches, where it "
        "invents text (turns --detect-music on).",
        rich_help_panel=P_MUSIC,
    ),
]
MusicThreshold = Annotated[
    float,
    typer.Option(
        "--music-threshold",
        min=0.0,
        max=1.0,
        help="Music score from which a stretch counts as music.",
        rich_help_panel=P_MUSIC,
    ),
]
MusicWindows = Annotated[
    float | None,
    typer.Option(
        "--music-windows",
        min=0.1,
        metavar="SECONDS",
        help="Also report fixed windows of this length with a yes/no music verdict.",
        rich_help_panel=P_MUSIC,
    ),
]
MusicMarks = Annotated[
    bool,
    typer.Option(
        "--music-marks/--no-music-marks",
        help="Mark music in TXT, SRT and VTT as [music].",
        rich_help_panel=P_MUSIC,
    ),
]

LanguageWindows = Annotated[
    float | None,
    typer.Option(
        "--language-windows",
        min=0.5,
        metavar="SECONDS",
        help="Also report fixed windows of this length with whether they hold speech and "
        "its language (JSON).",
        rich_help_panel="Decoding",
    ),
]

Start = Annotated[
    float,
    typer.Option(min=0.0, help="Start at this second of the input.", rich_help_panel=P_MEDIA),
]
Duration = Annotated[
    float | None,
    typer.Option(min=0.0, help="Transcribe only this many seconds.", rich_help_panel=P_MEDIA),
]
AudioTrack = Annotated[
    int | None,
    typer.Option(
        min=0, help="Audio track to use, from 0 (default: ffmpeg's pick).", rich_help_panel=P_MEDIA
    ),
]
FailTruncated = Annotated[
    bool,
    typer.Option(
        "--fail-truncated",
        help="Fail an input whose decoded audio falls clearly short of the duration it "
        "states (a cut-off file or download) instead of transcribing it with a warning.",
        rich_help_panel=P_MEDIA,
    ),
]
Normalize = Annotated[
    bool,
    typer.Option(
        "--normalize", help="Loudness-normalize (ffmpeg loudnorm) first.", rich_help_panel=P_MEDIA
    ),
]
MaxLineWidth = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Characters per subtitle line (needs word timestamps to split cues; turns them on).",
        rich_help_panel=P_SUBS,
    ),
]
MaxLineCount = Annotated[
    int | None,
    typer.Option(
        min=1, help="Lines per subtitle cue (with --max-line-width).", rich_help_panel=P_SUBS
    ),
]
HighlightWords = Annotated[
    bool,
    typer.Option(
        "--highlight-words",
        help="Underline each word as it is spoken (turns word timestamps on).",
        rich_help_panel=P_SUBS,
    ),
]


def _bytes(text: str | int) -> int:
    """A size such as 4G, 500M, 64K or 1000 (bytes); powers of 1024."""
    if isinstance(text, int):  # the default, passed through the parser too
        return text
    units = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in units else ""
    try:
        number = float(value[: len(value) - len(unit)])
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size such as 4G, 500M or 1000") from None
    if number <= 0:
        raise typer.BadParameter("a size must be positive")
    return int(number * (1 << units[unit]))


MaxDownload = Annotated[
    int,
    typer.Option(
        "--max-download",
        metavar="SIZE",
        parser=_bytes,
        show_default="4G",
        help="Fail a download (or a page's media) larger than this: 4G, 500M, 64K, bytes.",
        rich_help_panel=P_NET,
    ),
]
DownloadDeadline = Annotated[
    float,
    typer.Option(
        "--download-deadline",
        min=1.0,
        metavar="SECONDS",
        help="Fail a download not done in this many seconds, however it trickles.",
        rich_help_panel=P_NET,
    ),
]

# The model and decoding options `transcribe` and `transcribe serve` share.
Model = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        envvar="FFSCRIBE_MODEL",
        help="Model name (base, tiny.en, small, ...) or a CTranslate2 model directory.",
        rich_help_panel=P_MODEL,
    ),
]

Device = Annotated[
    str,
    typer.Option(
        envvar="FFSCRIBE_DEVICE",
        help="auto, cpu, cuda, cuda:N or gpu:N.",
        rich_help_panel=P_MODEL,
    ),
]

ComputeType = Annotated[
    str,
    typer.Option(
        help="auto (int8 on CPU, float16 on CUDA), int8, int8_float16, float16, float32.",
        rich_help_panel=P_MODEL,
    ),
]

Threads = Annotated[
    int,
    typer.Option(
        min=0,
        help="CPU threads per worker (0: the cores shared among the workers).",
        rich_help_panel=P_MODEL,
    ),
]

Jobs = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=0,
        envvar="FFSCRIBE_JOBS",
        help="Model workers side by side: inputs at once, and parts of a long input cut "
        "at pauses (0: one per core, up to 4, on a CPU; 2 on a GPU).",
        rich_help_panel=P_MODEL,
    ),
]

BatchSize = Annotated[
    int,
    typer.Option(
        min=0,
        help="Batch size for faster-whisper's batched pipeline (0: sequential decoding).",
        rich_help_panel=P_MODEL,
    ),
]

Language = Annotated[
    str | None,
    typer.Option(
        "--language",
        "-l",
        help="Spoken language code, or auto (default): found where the speech is, region "
        "by region.",
        rich_help_panel=P_DECODE,
    ),
]

BeamSize = Annotated[int, typer.Option(min=1, help="Beam size.", rich_help_panel=P_DECODE)]

Task = Annotated[
    str, typer.Option(help="transcribe, or translate (to English).", rich_help_panel=P_DECODE)
]

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Say more.")]
Debug = Annotated[
    bool, typer.Option("--debug", help="Debug logs, and tracebacks for internal errors.")
]

WordTimestamps = Annotated[
    bool, typer.Option("--word-timestamps", help="Time every word.", rich_help_panel=P_DECODE)
]

Vad = Annotated[
    bool,
    typer.Option(
        "--vad/--no-vad", help="Skip non-speech with Silero VAD.", rich_help_panel=P_DECODE
    ),
]

Executor = Annotated[
    str,
    typer.Option(
        envvar="FFSCRIBE_EXECUTOR",
        help="local (this machine's workers) or ray (Ray actors; needs ffscribe[ray]).",
        rich_help_panel=P_CLUSTER,
    ),
]

RayAddress = Annotated[
    str | None,
    typer.Option(
        metavar="ADDR",
        envvar="RAY_ADDRESS",
        help="With --executor ray: the cluster to join (default: a local Ray instance, "
        "started and stopped by the run).",
        rich_help_panel=P_CLUSTER,
    ),
]

RayGpus = Annotated[
    float,
    typer.Option(
        min=0.0,
        help="With --executor ray: GPUs per actor, fractional to pack small models "
        "(0: one CPU actor per core).",
        rich_help_panel=P_CLUSTER,
    ),
]

Retries = Annotated[
    int,
    typer.Option(
        min=0,
        help="With --executor ray: more tries for an input whose worker died (killed, out of "
        "memory) before it is reported failed.",
        rich_help_panel=P_CLUSTER,
    ),
]
