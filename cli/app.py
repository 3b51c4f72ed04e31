"""The `transcribe` command: options -> core call -> exit status. No pipeline logic here."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ffscribe.cli import options as opt
from ffscribe.cli.progress import Reporter
from ffscribe.cli.run import (
    EXECUTORS,
    InputOptions,
    execute,
    flush_and_exit,
    gather,
    print_plan,
    setup_logging,
    stragglers,
    submitter_for,
)
from ffscribe.cli.to_core import (
    TEMPERATURE_INCREMENT,
    MusicArgs,
    SpeakerArgs,
    diarize_options,
    language_code,
    model_options,
    music_options,
    temperatures,
    words_wanted,
)
from ffscribe.cli.voices import enroll_voices, voice_options
from ffscribe.core import __version__
from ffscribe.core.batch.contract import OutputOptions
from ffscribe.core.batch.download import DEFAULT_DEADLINE, DEFAULT_MAX_BYTES, FetchOptions
from ffscribe.core.batch.outputs import DEFAULT_TEMPLATE, check_template
from ffscribe.core.batch.ray_executor import RayOptions
from ffscribe.core.data.errors import UsageError
from ffscribe.core.data.options import (
    DEFAULT_MODEL,
    ClipOptions,
    DecodeOptions,
)
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from ffscribe.formats import FORMAT_NAMES, WRITERS, WriterOptions, parse_formats

if TYPE_CHECKING:
    pass

EPILOG = (
    "Exit status: 0 every input done or skipped; 1 one or more inputs failed; 2 usage error; "
    "3 the environment lacks something (ffmpeg, a model offline, an optional extra); "
    "130 interrupted (Ctrl-C or SIGTERM). "
    "[bold]transcribe serve --help[/bold]: the same engine over HTTP (a file named serve: ./serve)."
)
FORMATS_HELP = "Output formats, comma-separated, or 'all': " + ", ".join(
    f"{name} ({w.description})" for name, w in WRITERS.items()
)

P_IN = "Inputs"
P_IO = "Outputs"
P_DECODE = "Decoding"
P_RUN = "Messages"

app = typer.Typer(
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"transcribe (ffscribe) {__version__}")
        raise typer.Exit()


@app.command(epilog=EPILOG)
def transcribe(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="INPUT",
            help="Media files, directories (recursed), quoted globs, http(s) URLs of media or of "
            "pages yt-dlp knows, podcast feeds (RSS/Atom), '-' for a list of inputs on standard "
            "input, 'pipe:' for media bytes on standard input, or ffscribe JSON results to "
            "re-render.",
        ),
    ],
    null: Annotated[
        bool,
        typer.Option(
            "--null",
            "-0",
            help="With '-': inputs are NUL-separated (find -print0).",
            rich_help_panel=P_IN,
        ),
    ] = False,
    include: Annotated[
        list[str],
        typer.Option(
            metavar="GLOB",
            help="In directories, keep only files matching this (repeatable).",
            rich_help_panel=P_IN,
        ),
    ] = [],  # noqa: B006 - Typer reads the default; it is never mutated
    exclude: Annotated[
        list[str],
        typer.Option(
            metavar="GLOB",
            help="In directories, drop files matching this (repeatable).",
            rich_help_panel=P_IN,
        ),
    ] = [],  # noqa: B006
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="From a podcast feed, only the newest N episodes.", rich_help_panel=P_IN
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=FORMATS_HELP, rich_help_panel=P_IO)
    ] = "json",
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            envvar="FFSCRIBE_OUTPUT_DIR",
            help="Directory for outputs (default: beside each input).",
            rich_help_panel=P_IO,
        ),
    ] = None,
    template: Annotated[
        str,
        typer.Option(
            help="Output file name template: {stem}, {name} (with extension) and {ext}.",
            rich_help_panel=P_IO,
        ),
    ] = DEFAULT_TEMPLATE,
    stdout: Annotated[
        bool,
        typer.Option(
            "--stdout",
            help="Write the one format to standard output, no files.",
            rich_help_panel=P_IO,
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Redo inputs whose outputs exist (default: skip them).",
            rich_help_panel=P_IO,
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write a JSON summary of every input's outcome here.", rich_help_panel=P_IO
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan and the outputs, do nothing.", rich_help_panel=P_IO
        ),
    ] = False,
    model: opt.Model = DEFAULT_MODEL,
    device: opt.Device = "auto",
    compute_type: opt.ComputeType = "auto",
    threads: opt.Threads = 0,
    jobs: opt.Jobs = 0,
    batch_size: opt.BatchSize = 0,
    language: opt.Language = None,
    task: opt.Task = "transcribe",
    beam_size: opt.BeamSize = 5,
    best_of: Annotated[
        int,
        typer.Option(
            min=1, help="Candidates when sampling with temperature > 0.", rich_help_panel=P_DECODE
        ),
    ] = 5,
    word_timestamps: opt.WordTimestamps = False,
    initial_prompt: Annotated[
        str | None,
        typer.Option(
            help="Text to prime the first window (names, spelling).", rich_help_panel=P_DECODE
        ),
    ] = None,
    hotwords: Annotated[
        str | None, typer.Option(help="Words to favour.", rich_help_panel=P_DECODE)
    ] = None,
    vad: opt.Vad = True,
    temperature: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Sampling temperature of the first try.",
            rich_help_panel=P_DECODE,
        ),
    ] = 0.0,
    temperature_increment_on_fallback: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Raise the temperature by this on a failed window (0: no fallback).",
            rich_help_panel=P_DECODE,
        ),
    ] = TEMPERATURE_INCREMENT,
    compression_ratio_threshold: Annotated[
        float,
        typer.Option(
            help="Retry a window whose gzip ratio is above this.", rich_help_panel=P_DECODE
        ),
    ] = 2.4,
    logprob_threshold: Annotated[
        float,
        typer.Option(
            help="Retry a window whose mean log-probability is below this.",
            rich_help_panel=P_DECODE,
        ),
    ] = -1.0,
    no_speech_threshold: Annotated[
        float,
        typer.Option(
            help="Treat a window as silence above this no-speech probability.",
            rich_help_panel=P_DECODE,
        ),
    ] = 0.6,
    language_windows: opt.LanguageWindows = None,
    condition_on_previous_text: Annotated[
        bool,
        typer.Option(
            "--condition-on-previous-text/--no-condition-on-previous-text",
            help="Feed each window the text before it.",
            rich_help_panel=P_DECODE,
        ),
    ] = True,
    max_download: opt.MaxDownload = DEFAULT_MAX_BYTES,
    download_deadline: opt.DownloadDeadline = DEFAULT_DEADLINE,
    start: opt.Start = 0.0,
    duration: opt.Duration = None,
    audio_track: opt.AudioTrack = None,
    normalize: opt.Normalize = False,
    fail_truncated: opt.FailTruncated = False,
    max_line_width: opt.MaxLineWidth = None,
    max_line_count: opt.MaxLineCount = None,
    highlight_words: opt.HighlightWords = False,
    diarize: opt.Diarize = False,
    diarizer: opt.Diarizer = "auto",
    speakers: opt.Speakers = None,
    min_speakers: opt.MinSpeakers = None,
    max_speakers: opt.MaxSpeakers = None,
    diarization_model: opt.DiarizationModel = None,
    hf_token: opt.HfToken = None,
    speaker_names: opt.SpeakerNames = None,
    voices: opt.Voices = None,
    speaker_vectors: opt.SpeakerVectors = False,
    enroll: opt.Enroll = None,
    detect_music: opt.DetectMusic = False,
    skip_music: opt.SkipMusic = False,
    music_threshold: opt.MusicThreshold = 0.5,
    music_windows: opt.MusicWindows = None,
    music_marks: opt.MusicMarks = True,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    ray_gpus: opt.RayGpus = 0.0,
    retries: opt.Retries = 2,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only.", rich_help_panel=P_RUN)
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say more.", rich_help_panel=P_RUN)
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Debug logs, and tracebacks for internal errors.", rich_help_panel=P_RUN
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
            rich_help_panel=P_RUN,
        ),
    ] = False,
) -> None:
    """Transcribe audio and video with Whisper into JSON, SRT, VTT, TXT or TSV."""
    setup_logging(quiet=quiet, verbose=verbose, debug=debug)
    try:
        formats = parse_formats(fmt)
    except UsageError as exc:
        raise typer.BadParameter(exc.message, param_hint="--format") from exc
    try:
        check_template(template, formats)
    except UsageError as exc:
        raise typer.BadParameter(exc.message, param_hint="--template") from exc
    if stdout and len(formats) != 1:
        raise typer.BadParameter("--stdout writes exactly one format", param_hint="--format")
    if executor not in EXECUTORS:
        raise typer.BadParameter("use " + " or ".join(EXECUTORS), param_hint="--executor")
    if task not in ("transcribe", "translate"):
        raise typer.BadParameter("use transcribe or translate", param_hint="--task")
    options = PipelineOptions(
        model=model_options(
            model, device=device, compute_type=compute_type, threads=threads, jobs=jobs
        ),
        decode=DecodeOptions(
            language=language_code(language),
            task=task,  # type: ignore[arg-type]
            beam_size=beam_size,
            best_of=best_of,
            temperatures=temperatures(temperature, temperature_increment_on_fallback),
            compression_ratio_threshold=compression_ratio_threshold,
            log_prob_threshold=logprob_threshold,
            no_speech_threshold=no_speech_threshold,
            condition_on_previous_text=condition_on_previous_text,
            initial_prompt=initial_prompt,
            hotwords=hotwords,
            word_timestamps=words_wanted(word_timestamps, highlight_words, max_line_width),
            vad=vad,
            batch_size=batch_size,
        ),
        clip=ClipOptions(
            start=start, duration=duration, audio_track=audio_track, normalize=normalize
        ),
    )
    outputs = OutputOptions(
        formats=formats,
        extensions={name: writer.extension for name, writer in WRITERS.items()},
        output_dir=output_dir,
        template=template,
        overwrite=overwrite,
        stdout=stdout,
    )
    writer_options = WriterOptions(
        max_line_width=max_line_width,
        max_line_count=max_line_count,
        highlight_words=highlight_words,
        music_marks=music_marks,
    )
    options = replace(
        options,
        music=music_options(MusicArgs.given(ctx.params)),
        skip_music=skip_music,
        diarize=diarize_options(
            SpeakerArgs.given(
                ctx.params, named=bool(speaker_names), voices=bool(voices or speaker_vectors)
            )
        ),
        speaker_names=_names(speaker_names),
        voices=voice_options(voices, speaker_vectors, speaker_names),
        fail_truncated=fail_truncated,
        language_windows=language_windows,
    )
    pipeline = Pipeline(options)
    fetch = FetchOptions(max_bytes=max_download, deadline=download_deadline)
    wanted = InputOptions(
        null=null, include=tuple(include), exclude=tuple(exclude), limit=limit, fetch=fetch
    )
    if enroll:
        raise typer.Exit(enroll_voices(inputs, enroll, voices, output_dir))
    if dry_run:
        print_plan(pipeline, gather(inputs, wanted), outputs)
        return
    reporter = Reporter(quiet=quiet, verbose=verbose, archive=executor == "ray")
    ray_options = RayOptions(address=ray_address, retries=retries, gpus=ray_gpus)
    code = execute(
        pipeline,
        lambda: gather(inputs, wanted),
        outputs,
        writer_options,
        report,
        reporter=reporter,
        fetch=fetch,
        submitter=submitter_for(executor, pipeline, ray_options),
    )
    raise typer.Exit(int(code))


def _names(text: str | None) -> tuple[str, ...]:
    """--speaker-names split at commas; an empty name keeps that speaker's label."""
    return tuple(name.strip() for name in text.split(",")) if text else ()


def main() -> None:
    """Console-script entry point; `transcribe serve ...` runs the service and `transcribe live
    ...` transcribes as audio comes (files named so are `./serve` and `./live`)."""
    if sys.argv[1:2] == ["live"]:
        from ffscribe.cli.live import main as live_main

        live_main(sys.argv[2:])
        return
    try:
        if sys.argv[1:2] == ["serve"]:
            from ffscribe.cli.serve.command import main as serve

            serve(sys.argv[2:])
        app(prog_name="transcribe")
    except SystemExit as exc:
        if stragglers():
            # A worker still inside a read or the model cannot be stopped from outside, and
            # Python would wait for it at exit: its files are gone already, so go now.
            code = exc.code if isinstance(exc.code, int) else 1
            flush_and_exit(code)
        raise


__all__ = ["FORMAT_NAMES", "app", "main"]
