"""Speech recognition: load a Whisper model once and turn decoded audio into Segments."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ffscribe.core.asr.languages import (
    Run,
    Screen,
    SwitchHeard,
    SwitchRule,
    Tally,
    labelled,
    listen,
    plan,
    screening,
)
from ffscribe.core.asr.recover import (
    SAMPLE_RATE,
    recover,
    silence_rule,
    speech_spans,
    trim_cut_tail,
)
from ffscribe.core.asr.split import (
    collected,
    collected_size,
    cut_points,
    part_count,
    sounding,
    speech_chunks,
    speech_head,
    split_chunks,
)
from ffscribe.core.data.errors import Cancelled, EnvironmentMissing, UsageError
from ffscribe.core.data.options import DecodeOptions, ModelOptions, cpu_cores, default_jobs
from ffscribe.core.data.transcript import LanguageWindow, ModelInfo, Segment, Word
from ffscribe.core.engine import timeline
from ffscribe.core.engine.checkpoint import PartDone
from ffscribe.core.engine.context import (
    LocalParts,
    PartRunner,
    ProgressCallback,
    RunContext,
    SegmentCallback,
)

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from ffscribe.core.media.ffmpeg import Audio

log = logging.getLogger("ffscribe.asr")

CONTEXT_SECONDS = 20.0  # speech before a cut decoded to prompt the part after it
WINDOW_SECONDS = 30.0  # what Whisper reads at once


@dataclass(frozen=True)
class Device:
    """Where CTranslate2 runs: `kind` is "cpu" or "cuda", `index` the GPU number."""

    kind: str
    index: int
    compute_type: str

    def __str__(self) -> str:
        return self.kind if self.kind == "cpu" else f"{self.kind}:{self.index}"


@dataclass(frozen=True)
class Recognition:
    """What the decoder found in one input, before the pipeline wraps it in a Transcript."""

    segments: tuple[Segment, ...]
    language: str
    language_probability: float


def parse_device(spec: str, compute_type: str = "auto") -> Device:
    """Turn `auto|cpu|cuda|cuda:N|gpu:N` into a Device; auto picks CUDA when a GPU is visible."""
    text = spec.strip().lower()
    kind, _, index_text = text.partition(":")
    if kind == "gpu":
        kind = "cuda"
    if kind not in ("auto", "cpu", "cuda") or (index_text and not index_text.isdigit()):
        raise UsageError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or gpu:N")
    if kind == "auto":
        kind = "cuda" if _cuda_devices() > 0 else "cpu"
    elif kind == "cuda" and _cuda_devices() == 0:
        raise EnvironmentMissing(
            f"device {spec!r} asked for, but CTranslate2 sees no CUDA GPU: "
            "use --device cpu, or install the NVIDIA driver, CUDA 12 and cuDNN 9"
        )
    index = int(index_text or 0)
    if compute_type == "auto":
        compute_type = "int8" if kind == "cpu" else "float16"
    return Device(kind=kind, index=index, compute_type=compute_type)


def resolve_workers(options: ModelOptions, device: Device | None = None) -> int:
    """The model workers: --jobs, else one per core up to four on a CPU and two on a GPU.
    The one place --jobs and --device auto are read for it: the engine and the model agree."""
    if options.jobs:
        return options.jobs
    kind = (device or parse_device(options.device, options.compute_type)).kind
    return default_jobs(kind)


def _cuda_devices() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # no driver at all
        return 0


class Recognizer:
    """A loaded Whisper model and the device it sits on; reuse it for every input."""

    def __init__(self, model_path: str, name: str, options: ModelOptions) -> None:
        from faster_whisper import WhisperModel

        from ffscribe.core.asr import workarounds  # numpy: not at import (--help)

        self.device = parse_device(options.device, options.compute_type)
        self.workers = resolve_workers(options, self.device)
        threads = options.threads or max(1, cpu_cores() // self.workers)
        try:
            self.model: WhisperModel = WhisperModel(
                model_path,
                device=self.device.kind,
                device_index=self.device.index,
                compute_type=self.device.compute_type,
                cpu_threads=threads,
                num_workers=self.workers,
                download_root=options.download_root,
            )
        except ValueError as exc:  # CTranslate2 rejects an unsupported compute type
            raise UsageError(f"cannot load {name} on {self.device}: {exc}") from exc
        self.info = ModelInfo(
            name=name, device=str(self.device), compute_type=self.device.compute_type
        )
        self._batched: Any = None
        workarounds.install(self.model)
        listen(self.model)  # each decoded window is checked for another language, when asked
        timeline.instrument(self.model)
        self.rule = SwitchRule()

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def check(self, options: DecodeOptions) -> None:
        """Refuse options this model cannot honour, before any audio is decoded."""
        if self.multilingual:
            if options.language and options.language not in _languages():
                raise UsageError(f"unknown language code {options.language!r}")
            return
        if options.language not in (None, "en"):
            raise UsageError(
                f"model {self.info.name} is English-only; --language {options.language} "
                "needs a multilingual model (e.g. --model base)"
            )
        if options.task == "translate":
            raise UsageError(f"model {self.info.name} is English-only and cannot translate")

    def recognize(
        self,
        audio: Audio,
        options: DecodeOptions,
        progress: ProgressCallback | None = None,
        *,
        context: RunContext | None = None,
    ) -> Recognition:
        """Decode `audio`; times in the result are on the source's timeline (plus audio.offset).

        With several workers and sequential decoding, a long input is cut at pauses into
        parts transcribed side by side (on `context.parts`, the engine's workers), each
        prompted with the text before its cut: on a small CPU, two one-thread workers nearly
        double throughput where more threads barely help. Whether and where it is cut depends
        on the input and the options alone, so a run gives the same text whatever else the
        workers are doing, and a run killed half way resumes from `context.checkpoint`.
        `context.segment` hears each segment once it is final, in order: as it is decoded
        (one piece, the language known), as each part's run of finished parts completes, or
        with the result (a piece whose language may still make it decode again)."""
        ctx = context or RunContext(progress=progress)
        if ctx.segment is None:
            return self._recognize(audio, options, ctx)
        stream = _InOrder(ctx.segment)
        found = self._recognize(audio, options, replace(ctx, segment=stream.hear))
        stream.rest(found.segments)
        return found

    def _recognize(self, audio: Audio, options: DecodeOptions, ctx: RunContext) -> Recognition:
        kwargs = _transcribe_kwargs(options)
        if options.batch_size > 1:
            return self._recognize_batched(audio, kwargs, options.batch_size, ctx)
        count = part_count(audio.duration, self.workers)
        if count > 1:
            with timeline.span("pauses"):
                speech = sounding(audio.samples)
            with timeline.span("cuts"):
                parts = cut_points(
                    speech,
                    audio.samples.size,
                    count,
                    _quiet_within(audio.samples),
                    lead=_context_samples(kwargs, audio.sample_rate),
                )
            if len(parts) > 1:
                return self._recognize_parts(audio, parts, speech, kwargs, ctx)
        return self._decode(audio.samples, kwargs, None, audio.offset, ctx)

    def _auto(self, kwargs: dict[str, Any]) -> bool:
        """Whether the language is found where the speech is: not fixed, and the model has more."""
        return kwargs["language"] is None and self.multilingual

    def _decode(
        self,
        samples: Any,
        kwargs: dict[str, Any],
        voiced: list[dict[str, int]] | None,
        offset: float,
        ctx: RunContext,
        *,
        auto: bool | None = None,
        detected: tuple[str, float] | None = None,
    ) -> Recognition:
        """Decode `samples` as one piece; with `auto` (the language not given by the user),
        each window Whisper decodes is checked, and one clearly in another language sends
        the piece region by region (`_by_language`). `detected`: the language the caller
        fixed in `kwargs` and its probability (a split input's parts)."""
        duration = samples.size / SAMPLE_RATE
        listening = self._auto(kwargs) if auto is None else auto
        tally = Tally()  # what finding the languages cost, for --debug
        watch: AbstractContextManager[Screen | None] = (
            screening(self.model, kwargs["language"], self.rule, tally)
            if listening
            else nullcontext()
        )
        info = None
        try:
            with watch as screen:
                segments, info = self._transcribe(samples, kwargs, voiced)
                if screen is not None:  # where each window sits: its doubts are looked at
                    segments = screen.follow(segments)
                # While the language is watched, what is found may be decoded again: the
                # segments are heard with the result instead.
                label = detected or (str(info.language), float(info.language_probability))
                found = _collect(segments, offset, duration, _labelling(ctx, label, listening))
        except SwitchHeard as heard:
            running = kwargs["language"] or (str(info.language) if info else None)
            log.debug("another language heard (%s): decoding region by region", heard)
            runs = plan(self.model, samples, running, self.rule, tally, screen)
            log.debug("languages at %.1f s: %s", offset, tally)
            return self._by_language(samples, kwargs, voiced, offset, ctx, runs, running)
        language, probability = label
        if screen is not None and screen.doubted:  # a window unsure of its language
            runs = plan(self.model, samples, language, self.rule, tally, screen)
            if len(runs) > 1 or runs[0].language != language:
                log.debug("regions in %s: decoding region by region", [r.language for r in runs])
                log.debug("languages at %.1f s: %s", offset, tally)
                return self._by_language(samples, kwargs, voiced, offset, ctx, runs, language)
        if listening:
            log.debug("languages at %.1f s: %s", offset, tally)
        return Recognition(tuple(labelled(found, language, probability)), language, probability)

    def _by_language(
        self,
        samples: Any,
        kwargs: dict[str, Any],
        voiced: list[dict[str, int]] | None,
        offset: float,
        ctx: RunContext,
        runs: list[Run],
        running: str | None,
        batch: int = 0,
    ) -> Recognition:
        """Decode each of `runs` (same-language regions of `samples`) with its language
        fixed, prompted with the text of the last run in that language (a prompt in another
        language pulls Whisper into translating). With `batch`, faster-whisper's batched
        pipeline decodes each run (its own VAD; no prompts)."""
        from ffscribe.core.asr.languages import shares, top_probability

        if voiced is None and kwargs["vad_filter"] and batch <= 1:
            voiced = speech_chunks(samples, kwargs["vad_parameters"])
        spans = [(run.start, run.end) for run in runs]
        prompts: dict[str, Any] = {}
        if running and kwargs["initial_prompt"]:  # a split part's context, or the user's
            prompts[running] = kwargs["initial_prompt"]
        out: list[Segment] = []
        total = samples.size / SAMPLE_RATE
        for run, heard in zip(runs, split_chunks(voiced, spans), strict=True):
            prompt = prompts.get(run.language)
            if prompt is None and running is None and not out:
                prompt = kwargs["initial_prompt"]
            decode = {**kwargs, "language": run.language, "initial_prompt": prompt}
            piece = samples[run.start : run.end]
            if batch > 1:  # the pipeline prompts every piece alike: the user's prompt only
                decode["initial_prompt"] = kwargs["initial_prompt"]
                segments, _ = self._batched_pipeline().transcribe(piece, batch_size=batch, **decode)
            else:
                segments, _ = self._transcribe(piece, decode, heard)
            at = run.start / SAMPLE_RATE
            found = _collect(
                segments,
                offset + at,
                (run.end - run.start) / SAMPLE_RATE,
                _moved(ctx, at, total),
            )
            out.extend(labelled(found, run.language, run.probability))
            tokens = [t for s in found for t in s.tokens]
            if tokens and kwargs["condition_on_previous_text"]:
                prompts[run.language] = tokens[-224:]
        numbered = tuple(replace(s, id=i) for i, s in enumerate(out))
        ranked = shares(numbered)
        language = ranked[0].language if ranked else running or "en"
        return Recognition(numbered, language, top_probability(numbered, language))

    def _recognize_batched(
        self, audio: Audio, kwargs: dict[str, Any], batch: int, ctx: RunContext
    ) -> Recognition:
        """faster-whisper's batched pipeline. With the language to find, each piece it will
        decode is detected first (batched: a GPU's encoder is cheap); when one is not clearly
        in the first one's language, each run of same-language regions is decoded by itself,
        its language fixed (the pipeline prompts no piece with another's text)."""
        from ffscribe.core.asr.languages import batched_chunks, detect

        pipeline = self._batched_pipeline()
        if self._auto(kwargs):
            tally = Tally()
            found = detect(self.model, batched_chunks(audio.samples, kwargs), tally)
            first = found[0].language if found else None
            runs: list[Run] = []
            if first is not None and any(d.of(first) < self.rule.doubt for d in found):
                runs = plan(self.model, audio.samples, first, self.rule, tally)
            log.debug("languages, batched: %s", tally)
            if len(runs) > 1:
                return self._by_language(
                    audio.samples, kwargs, None, audio.offset, ctx, runs, first, batch
                )
        segments, info = pipeline.transcribe(audio.samples, batch_size=batch, **kwargs)
        label = (str(info.language), float(info.language_probability))
        decoded = _collect(segments, audio.offset, audio.duration, _labelling(ctx, label))
        return _recognition(decoded, info)

    def _recognize_parts(
        self,
        audio: Audio,
        parts: list[tuple[int, int]],
        speech: list[tuple[int, int]],
        kwargs: dict[str, Any],
        ctx: RunContext,
    ) -> Recognition:
        no_speech, log_prob = silence_rule(kwargs)
        rate = audio.sample_rate
        auto = self._auto(kwargs)  # each part finds its own languages
        tracker = _PartsProgress(ctx, audio.duration, len(parts))
        finished = _InOrder(ctx.segment) if ctx.segment else None
        pieces = [audio.samples[a:b] for a, b in parts]
        local = LocalParts(self.workers) if ctx.parts is None else None
        runner: PartRunner = ctx.parts or local  # type: ignore[assignment]
        # The key hashes every sample: only worth it where finished parts are kept.
        checkpoint = ctx.checkpoint
        resumed = checkpoint.load(_parts_key(self.info, kwargs, audio, parts)) if checkpoint else {}
        if resumed:
            log.info("%d of %d parts were done before; decoding the rest", len(resumed), len(parts))

        # The language is detected by the first part's worker, from the first window it is
        # about to decode: that window is then encoded once, not twice (_encode_first_window_
        # once keeps the encoder output per thread). The other parts wait for it before they
        # decode; a resumed first part brings the language it found.
        detected: Future[tuple[str, float]] = Future()
        if 0 in resumed:
            detected.set_result((resumed[0].language, resumed[0].language_probability))
        elif not auto:
            detected.set_result(self._language(audio, None, kwargs))
        # Still to find, the contexts do not wait for it: each finds its own language, as
        # Whisper does, and where that is the input's its tokens are those the input's
        # language would give (the same encoder output, the same tokenizer); where it is
        # not, the part decodes its context again in the input's. Either way a part's
        # prompt depends on the input alone, never on which finished first.
        ahead = detected.result()[0] if detected.done() else None

        def context(index: int, language: str | None) -> tuple[str, list[int] | None]:
            # Under its own log-mel floor, not the whole's: so it can start before the voice
            # detector has heard the whole input (it is a prompt, not a part's text).
            tracker.check()
            with timeline.span("context"):
                decode = {**kwargs, "language": language}
                return self._context(audio, parts, index, speech, decode)

        # Each part gets the features the whole input would have: the voice detector runs
        # over the whole, its speech split at the cuts, and the log-mel floor is set by the
        # whole's loudest frame, not each part's (Whisper's text changes with the floor:
        # BENCHMARKS.md, "Third session"). Each part's loudest frame is found on the whole's
        # frame grid; the frames that straddle a cut see reflected samples instead of the
        # neighbour's, and cuts sit in pauses, where the loudest frame is not.
        from ffscribe.core.media.features import loudest

        extractor = self.model.feature_extractor
        voiced: list[list[dict[str, int]] | None] = []
        sizes: list[int] = []
        everywhere: list[dict[str, int]] | None = None

        def loudest_in(index: int) -> Any:
            # On the frames of the whole's features: sum(sizes[:index]) samples before.
            grid = -sum(sizes[:index]) % int(extractor.hop_length)
            with timeline.span("loudest"):
                return loudest(extractor, collected(pieces[index], voiced[index]), grid)

        def run(index: int, top: Any) -> tuple[Segment, ...]:
            if index in resumed:
                a, b = parts[index]
                tracker.callback(index)((b - a) / rate, (b - a) / rate)
                if finished is not None:
                    finished.part(index, resumed[index].segments)
                return resumed[index].segments
            try:
                found = decode_part(index, top)
            except BaseException as exc:  # part 0 failing before it told: the others must go
                if index == 0 and not detected.done():
                    detected.set_exception(exc)
                raise
            if ctx.checkpoint is not None:
                ctx.checkpoint.save(index, PartDone(found, *detected.result()))
            if finished is not None:
                finished.part(index, found)
            return found

        def early(index: int) -> RunContext:
            """Part `index`'s context; the first part's (languages not watched) hands on
            each segment ending a Whisper window before the cut: only the last window's
            tail may yet be dropped as filler (trim_cut_tail), and no part precedes it."""
            piece = tracker.context(index)
            if finished is None or index or auto:
                return piece
            head, safe = finished, _before_last_window(voiced[0], pieces[0].size, audio.offset)

            def hear(segment: Segment) -> None:
                if segment.end <= safe:
                    head.early(segment)

            return replace(piece, segment=hear)

        def prompt_for(index: int) -> list[int] | None:
            if index not in contexts:  # no context wanted (--no-condition-on-previous-text)
                return None
            with timeline.span("wait context"):
                heard, tokens = contexts[index].result()
            with timeline.span("wait language"):
                language = detected.result()[0]
            return tokens if heard == language else context(index, language)[1]

        def decode_part(index: int, top: Any) -> tuple[Segment, ...]:
            tracker.check()  # a part still queued when the run was cancelled or failed
            a = parts[index][0]
            if index and not detected.done():  # the first part's worker is still finding it
                with _floored(extractor, top), timeline.span("encode ahead"):
                    self._encode_ahead(pieces[index], voiced[index])
            prompt = prompt_for(index) if index else None
            with _floored(extractor, top):
                if index == 0 and not detected.done():
                    detected.set_result(self._language(audio, everywhere, kwargs))
                decode = {**kwargs, "language": detected.result()[0]}
                part_kwargs = {**decode, "initial_prompt": prompt} if prompt else decode
                with timeline.span(f"part {index}"):
                    found = self._decode(
                        pieces[index],
                        part_kwargs,
                        voiced[index],
                        audio.offset + a / rate,
                        early(index),
                        auto=auto,
                        detected=detected.result(),
                    ).segments
            return found if index == len(parts) - 1 else trim_cut_tail(found, no_speech, log_prob)

        indices = range(len(parts))
        contexts: dict[int, Future[tuple[str, list[int] | None]]] = {}
        try:
            # The contexts need only the audio and the cuts: queued first, another worker
            # decodes them while this one runs the voice detector.
            if _context_samples(kwargs, rate):
                contexts.update(
                    (i, runner.submit(context, i, ahead)) for i in indices[1:] if i not in resumed
                )
            with timeline.span("vad"):
                if kwargs["vad_filter"]:
                    everywhere = speech_chunks(audio.samples, kwargs["vad_parameters"])
            voiced[:] = split_chunks(everywhere, parts)
            sizes[:] = [collected_size(p, v) for p, v in zip(pieces, voiced, strict=True)]
            top = max(runner.gather([runner.submit(loudest_in, i) for i in indices]))
            # Part 0 first (it finds the language), then the most speech first, so the part
            # left to run alone at the end is the one that takes the least time.
            order = [0, *sorted(indices[1:], key=lambda i: -sizes[i])]
            # The first failure, in any part, stops the others at their next segment.
            started = {i: runner.submit(run, i, top) for i in order}
            results = runner.gather([started[i] for i in indices])
        except BaseException:  # Ctrl-C, a cancel, or a part failed: the others stop too
            tracker.abandon()
            raise
        finally:
            if local is not None:
                local.close()
        merged = [s for part in results for s in part]
        segments = tuple(replace(s, id=i) for i, s in enumerate(merged))
        return Recognition(segments, *detected.result())

    def _transcribe(
        self, samples: Any, kwargs: dict[str, Any], voiced: list[dict[str, int]] | None = None
    ) -> tuple[Iterator[Any], Any]:
        """faster-whisper's transcribe, plus the speech its windows skipped. With `voiced`
        (the voice detector's speech in `samples`, found already), only that speech is
        decoded and the times put back, as faster-whisper does with its VAD filter on."""
        if voiced is None:
            segments, info = self.model.transcribe(samples, **kwargs)
        else:
            from faster_whisper.transcribe import restore_speech_timestamps

            found, info = self.model.transcribe(
                collected(samples, voiced), **{**kwargs, "vad_filter": False}
            )
            segments = restore_speech_timestamps(found, voiced, SAMPLE_RATE) if voiced else found
        return recover(self.model, samples, segments, kwargs, str(info.language)), info

    def _context(
        self,
        audio: Audio,
        parts: list[tuple[int, int]],
        index: int,
        speech: list[tuple[int, int]],
        kwargs: dict[str, Any],
    ) -> tuple[str, list[int] | None]:
        """The tokens of the speech just before part `index`, to prompt that part with, and
        the language they were decoded in (found in them when `kwargs` gives none).

        Decoded in one piece, Whisper reads each window with the text before it as its
        prompt; a part decoded on its own would start with none, and on the sonnets it then
        spells the archaic words differently ("beauties rose" for "beauty's rose"). The
        worker decodes the last CONTEXT_SECONDS before its cut first (from the start of a
        stretch of speech, greedy, no word timings), and its tokens stand in for that prompt."""
        begin, cut = self._context_span(audio, parts, index, speech)
        greedy = {"beam_size": 1, "best_of": 1, "temperature": [0.0], "word_timestamps": False}
        segments, info = self.model.transcribe(audio.samples[begin:cut], **{**kwargs, **greedy})
        tokens = [int(t) for s in segments for t in s.tokens]
        return str(info.language), tokens or None

    @staticmethod
    def _context_span(
        audio: Audio, parts: list[tuple[int, int]], index: int, speech: list[tuple[int, int]]
    ) -> tuple[int, int]:
        """The samples part `index` decodes as its context: up to CONTEXT_SECONDS before
        its cut, from the first start of speech in them, never before the part before."""
        cut = parts[index][0]
        earliest = max(parts[index - 1][0], cut - int(CONTEXT_SECONDS * audio.sample_rate))
        starts = [a for a, _ in speech if earliest <= a < cut]
        return (starts[0] if starts else earliest), cut

    def _encode_ahead(self, samples: Any, voiced: list[dict[str, int]] | None) -> None:
        """Encode the first window of the speech of `samples` (`voiced`) as decoding them
        will, on this thread, whose last encoder output is kept (workarounds.
        encode_first_window_once): a part waiting for the language the first part is
        finding spends the wait on what its decode needs first (a window: about a second
        of one core with base), which the decode then takes from memory."""
        from faster_whisper.audio import pad_or_trim

        extractor = self.model.feature_extractor
        # A little over one window: its last frames read the samples after it.
        head = speech_head(samples, voiced, int(extractor.n_samples) + int(extractor.n_fft))
        if head.size == 0:
            return  # no speech: its decode encodes nothing
        features = extractor(head)
        frames = min(int(extractor.nb_max_frames), features.shape[-1] - 1)
        if frames > 0:
            self.model.encode(pad_or_trim(features[:, :frames]))

    def _language(
        self, audio: Audio, voiced: list[dict[str, int]] | None, kwargs: dict[str, Any]
    ) -> tuple[str, float]:
        """Detect the language once for the whole input, so every part uses the same: from
        the first window of the whole's speech (`voiced`), as faster-whisper would detect it
        decoding the input in one piece (run under the whole's log-mel floor, `_floored`)."""
        if kwargs["language"]:
            return str(kwargs["language"]), 1.0
        if not self.multilingual:
            return "en", 1.0
        extractor = self.model.feature_extractor
        window = int(extractor.n_samples)
        # A little over one window: its last frames read the samples after it.
        head = speech_head(audio.samples, voiced, window + int(extractor.n_fft))
        features = extractor(head)
        language, probability, _ = self.model.detect_language(features=features)
        return str(language), float(probability)

    def language_windows(self, audio: Audio, seconds: float) -> tuple[LanguageWindow, ...]:
        """Windows of `seconds` over `audio`, each with whether it holds speech and, if so,
        its language (PAI's per-window detector); on the source's timeline."""
        from ffscribe.core.asr.languages import windows

        return windows(self.model, audio.samples, seconds, audio.offset, self.multilingual)

    def _batched_pipeline(self) -> Any:
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(model=self.model)
        return self._batched


def _parts_key(
    info: ModelInfo, kwargs: dict[str, Any], audio: Audio, parts: list[tuple[int, int]]
) -> str:
    """What finished parts are valid for: the model, every decode option, the samples (and
    where they sit on the source's timeline) and the cuts; anything else changed, and an
    earlier run's parts are not reused."""
    import hashlib
    import json

    import numpy as np

    digest = hashlib.blake2b(digest_size=20)
    described = {"model": info.to_dict(), "decode": kwargs, "offset": audio.offset, "parts": parts}
    digest.update(json.dumps(described, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(audio.samples).view(np.uint8).data)
    return digest.hexdigest()


def _context_samples(kwargs: dict[str, Any], rate: int) -> int:
    """How much speech a part decodes first as its context (none for the first part).

    Decoding it costs a worker about what decoding as much of the part itself does (one
    encoder pass, and greedy steps cost beam-5 steps' time on a CPU: the decoder's weights,
    not the beams, set a step's time), so the first part is made that much longer
    (BENCHMARKS.md, "Speed")."""
    if not kwargs["condition_on_previous_text"] or CONTEXT_SECONDS <= 0:
        return 0
    return int(CONTEXT_SECONDS * rate)


def _floored(extractor: Any, top: Any) -> AbstractContextManager[Any]:
    """BlockwiseLogMel.floor(top); nothing where faster-whisper kept its own extractor."""
    floor = getattr(extractor, "floor", None)
    return floor(top) if floor is not None else nullcontext()


def _quiet_within(samples: Any) -> Callable[[int, int], list[tuple[int, int]]]:
    """For cut_points: the stretches of [start, end) where Silero VAD hears no speech.

    Run only on the few candidate pauses near each even split (padded by half a second for
    the detector's context), never over the whole input."""

    def check(start: int, end: int) -> list[tuple[int, int]]:
        low, high = max(0, start - 8000), min(samples.size, end + 8000)
        quiet: list[tuple[int, int]] = []
        at = start
        for begin, finish in speech_spans(samples[low:high], pad_ms=100):
            begin, finish = begin + low, finish + low
            if min(begin, end) > at:
                quiet.append((at, min(begin, end)))
            at = max(at, finish)
        if end > at:
            quiet.append((at, end))
        return quiet

    return check


class _InOrder:
    """Hands a segment callback each segment once, in transcript order, numbered as in the
    result: those heard as they became final, the runs of parts finished from the first
    (parts end in any order), then whatever of the result was not heard yet."""

    def __init__(self, callback: SegmentCallback) -> None:
        self.callback = callback
        self.sent = 0
        self.parts: dict[int, tuple[Segment, ...]] = {}
        self.next_part = 0
        self.ahead = 0  # the first part's segments heard before it ended
        self.lock = threading.Lock()

    def hear(self, segment: Segment) -> None:
        with self.lock:
            self._send(segment)

    def early(self, segment: Segment) -> None:
        """A segment of the first part, final before the part ends (heard once, here)."""
        with self.lock:
            if self.next_part == 0:
                self._send(segment)
                self.ahead += 1

    def part(self, index: int, segments: tuple[Segment, ...]) -> None:
        with self.lock:
            if index == 0:
                segments, self.ahead = segments[self.ahead :], 0
            self.parts[index] = segments
            while self.next_part in self.parts:
                for segment in self.parts.pop(self.next_part):
                    self._send(segment)
                self.next_part += 1

    def rest(self, segments: Sequence[Segment]) -> None:
        with self.lock:
            for segment in segments[self.sent :]:
                self._send(segment)

    def _send(self, segment: Segment) -> None:
        self.callback(replace(segment, id=self.sent))
        self.sent += 1


class _PartsProgress:
    """Sums the progress of parts decoded at once into one (done, total) for the caller, and
    stops every part at its next segment once one part failed or the run was cancelled."""

    def __init__(self, ctx: RunContext, total: float, parts: int) -> None:
        self.ctx = ctx
        self.total = total
        self.done = [0.0] * parts
        self.lock = threading.Lock()
        self.pieces = [ctx.piece(self.callback(i)) for i in range(parts)]
        self.stop = threading.Event()

    def callback(self, index: int) -> ProgressCallback:
        def update(done: float, _total: float) -> None:
            with self.lock:
                self.done[index] = done
                if self.ctx.progress is not None:
                    self.ctx.progress(sum(self.done), self.total)

        return update

    def context(self, index: int) -> RunContext:
        return self.pieces[index]

    def check(self) -> None:
        self.ctx.check()
        if self.stop.is_set():
            raise Cancelled

    def abandon(self) -> None:
        """Stop every part at its next segment: one failed, or the run was stopped."""
        self.stop.set()
        for piece in self.pieces:
            piece.stop.set()


def _before_last_window(voiced: list[dict[str, int]] | None, size: int, offset: float) -> float:
    """The time (from `offset`) a segment must end by to lie before the last Whisper window
    of a piece of `size` samples: a window's length of what Whisper reads (the voiced
    ranges, with VAD) still follows it. -inf when the piece is shorter."""
    left = int(WINDOW_SECONDS * SAMPLE_RATE)
    for chunk in reversed(voiced if voiced is not None else [{"start": 0, "end": size}]):
        if chunk["end"] - chunk["start"] >= left:
            return offset + (chunk["end"] - left) / SAMPLE_RATE
        left -= chunk["end"] - chunk["start"]
    return float("-inf")


def _labelling(ctx: RunContext, label: tuple[str, float], hold: bool = False) -> RunContext:
    """`ctx` with its segment callback handed each segment labelled with `label` (language,
    probability), as the result will have it; with `hold`, no callback: heard later."""
    hear = ctx.segment
    if hear is None:
        return ctx
    if hold:
        return replace(ctx, segment=None)
    return replace(ctx, segment=lambda s: hear(labelled((s,), *label)[0]))


def _recognition(segments: tuple[Segment, ...], info: Any) -> Recognition:
    language, probability = str(info.language), float(info.language_probability)
    return Recognition(tuple(labelled(segments, language, probability)), language, probability)


def _moved(ctx: RunContext, at: float, total: float) -> RunContext:
    """A context for a piece starting `at` seconds into `total`: its progress moved there."""
    progress = ctx.progress
    if progress is None:
        return ctx.piece(None)
    return ctx.piece(lambda done, _total: progress(min(at + done, total), total))


def _languages() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


def _transcribe_kwargs(options: DecodeOptions) -> dict[str, Any]:
    return {
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        "best_of": options.best_of,
        "patience": options.patience,
        "length_penalty": options.length_penalty,
        "temperature": list(options.temperatures),
        "compression_ratio_threshold": options.compression_ratio_threshold,
        "log_prob_threshold": options.log_prob_threshold,
        "no_speech_threshold": options.no_speech_threshold,
        "condition_on_previous_text": options.condition_on_previous_text,
        "initial_prompt": options.initial_prompt,
        "hotwords": options.hotwords,
        "word_timestamps": options.word_timestamps,
        "vad_filter": options.vad,
        "vad_parameters": {"min_silence_duration_ms": options.vad_min_silence_ms}
        if options.vad
        else None,
        "without_timestamps": False,
    }


def _collect(
    segments: Iterable[Any],
    offset: float,
    duration: float,
    progress: ProgressCallback | RunContext | None,
    check: Callable[[], None] | None = None,
) -> tuple[Segment, ...]:
    """Convert faster-whisper's lazy segments, shifting times by `offset` and clamping them
    into [offset, offset + duration] so timestamps stay monotonic and inside the input.
    `check` runs before each segment is decoded and raises to stop (a cancel); a RunContext
    gives both."""
    ctx = None
    if isinstance(progress, RunContext):
        ctx = progress
        progress, check = ctx.progress, ctx.check
    end_limit = offset + duration
    out: list[Segment] = []
    last_end = offset
    if progress is not None:
        progress(0.0, duration)
    for raw in _checked(segments, check):
        start = min(max(float(raw.start) + offset, last_end), end_limit)
        end = min(max(float(raw.end) + offset, start), end_limit)
        words = tuple(_word(w, offset, start, end) for w in raw.words or ())
        out.append(
            Segment(
                id=len(out),
                seek=int(raw.seek),
                start=start,
                end=end,
                text=str(raw.text),
                tokens=tuple(int(t) for t in raw.tokens),
                temperature=float(raw.temperature or 0.0),
                avg_logprob=float(raw.avg_logprob),
                compression_ratio=float(raw.compression_ratio),
                no_speech_prob=float(raw.no_speech_prob),
                words=words,
            )
        )
        last_end = end
        if ctx is not None and ctx.segment is not None:
            ctx.segment(out[-1])
        if progress is not None:
            progress(end - offset, duration)
    if progress is not None:
        progress(duration, duration)
    return tuple(out)


def _checked(segments: Iterable[Any], check: Callable[[], None] | None) -> Iterator[Any]:
    """`segments`, with `check` run before each is decoded (the generator decodes on demand)."""
    if check is None:
        yield from segments
        return
    check()
    for segment in segments:
        yield segment
        check()


def _word(raw: Any, offset: float, seg_start: float, seg_end: float) -> Word:
    start = min(max(float(raw.start) + offset, seg_start), seg_end)
    end = min(max(float(raw.end) + offset, start), seg_end)
    return Word(
        start=start,
        end=end,
        word=str(raw.word),
        probability=round(float(raw.probability), 4),
    )
