"""Every language in the file: the switch rule (pure), the data model's JSON, and the real
Whisper base model on an English-then-Spanish recording (tests/fixtures/README.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ffscribe.core.asr.languages import (
    Detection,
    Region,
    Screen,
    SwitchHeard,
    SwitchRule,
    choose,
    heard_in,
    runs,
    shares,
)
from ffscribe.core.asr.models import resolve_model
from ffscribe.core.asr.recognizer import Recognizer
from ffscribe.core.data.options import DecodeOptions, ModelOptions
from ffscribe.core.data.transcript import (
    LanguageShare,
    LanguageWindow,
    ModelInfo,
    Segment,
    Source,
    Transcript,
)
from ffscribe.core.media.ffmpeg import load
from tests.conftest import MEDIA, TEST_MODEL, run_cli

RATE = 16000
RULE = SwitchRule(probability=0.5, seconds=2.0)
TINY = ("--model", TEST_MODEL)


def region(start: float, end: float, *found: tuple[str, float]) -> Region:
    return Region(int(start * RATE), int(end * RATE), Detection(found) if found else None)


def test_a_long_clear_region_switches_the_language() -> None:
    regions = [
        region(0, 10, ("fr", 0.99)),
        region(11, 20, ("en", 0.9)),
        region(21, 30, ("es", 0.8)),
    ]
    assert choose(regions, None, RULE) == ["fr", "en", "es"]


def test_a_switch_needs_probability_and_length() -> None:
    regions = [
        region(0, 10, ("en", 0.95)),
        region(11, 12.5, ("de", 0.99)),  # a name: too short to switch
        region(13, 20, ("de", 0.45), ("en", 0.4)),  # long, but unsure
        region(21, 30, ("en", 0.9)),
    ]
    assert choose(regions, "en", RULE) == ["en", "en", "en", "en"]


def test_short_regions_take_the_neighbour_their_detection_prefers() -> None:
    regions = [
        region(0, 10, ("en", 0.95)),
        region(10.5, 11.5, ("fr", 0.6), ("en", 0.3)),  # "Bonjour" before the French
        region(12, 20, ("fr", 0.9)),
        region(20.5, 20.9),  # not asked: the one before
    ]
    assert choose(regions, "en", RULE) == ["en", "fr", "fr", "fr"]


def test_a_window_clearly_in_another_language_stops_one_in_two_leaves_doubt() -> None:
    screen = Screen("en", SwitchRule())
    screen.check(Detection((("en", 0.95), ("pt", 0.01))))
    assert not screen.doubted
    screen.check(Detection((("en", 0.8), ("es", 0.15))))  # English, then Spanish
    assert screen.doubted
    with pytest.raises(SwitchHeard):
        screen.check(Detection((("es", 0.6), ("en", 0.3))))
    first = Screen(None, SwitchRule())  # the first window sets the language
    first.check(Detection((("fr", 0.99), ("en", 0.001))))
    assert first.language == "fr" and not first.doubted


def test_only_regions_under_a_window_in_doubt_are_detected_again() -> None:
    # Each region would cost a whole encoder pass: the 676 s file spent 30 s on them.
    screen = Screen("en", SwitchRule())
    sure, unsure = Detection((("en", 0.95),)), Detection((("en", 0.6), ("es", 0.3)))
    decoded = screen.follow(
        [Segment(0, 0.0, 12.0, " a"), Segment(1, 12.5, 29.0, " b"), Segment(2, 30.0, 50.0, " c")]
    )
    screen.check(sure)  # the first window is encoded before any segment comes
    next(decoded), next(decoded)
    screen.check(unsure)  # the second, after the first window's two segments
    list(decoded)
    windows = screen.windows(60.0)
    assert windows == [(0.0, 29.0, sure, False), (29.0, 60.0, unsure, True)]
    spans = [(int(a * RATE), int(b * RATE)) for a, b in [(1, 11), (20, 28.5), (28, 35), (40, 50)]]
    assert heard_in(spans, windows) == [sure, sure, None, None]


def test_runs_cut_in_the_middle_of_the_pauses() -> None:
    regions = [region(0, 10, ("fr", 0.9)), region(11, 12, ("fr", 0.7)), region(13, 20, ("en", 0.8))]
    found = runs(regions, ["fr", "fr", "en"], 22 * RATE)
    assert [(r.start / RATE, r.end / RATE, r.language) for r in found] == [
        (0.0, 12.5, "fr"),
        (12.5, 22.0, "en"),
    ]
    assert found[0].probability == pytest.approx((0.9 * 10 + 0.7 * 1) / 11, abs=1e-3)


def test_shares_rank_the_languages_by_their_seconds() -> None:
    segments = [
        Segment(0, 0.0, 4.0, " a", language="en"),
        Segment(1, 5.0, 11.0, " b", language="es"),
        Segment(2, 11.0, 13.0, " c", language="es"),
    ]
    assert shares(segments) == (LanguageShare("es", 8.0, 0.6667), LanguageShare("en", 4.0, 0.3333))


def test_languages_round_trip_through_json_and_old_json_still_loads() -> None:
    transcript = Transcript(
        input_path="x.wav",
        source=Source(kind="file", uri="/x.wav"),
        duration=10.0,
        language="es",
        language_probability=0.9,
        segments=(Segment(0, 0.0, 4.0, " Hi.", language="en", language_probability=0.91),),
        model=ModelInfo("base", "cpu", "int8"),
        languages=(LanguageShare("en", 4.0, 1.0),),
        language_windows=(LanguageWindow(0.0, 5.0, "en", 0.91, True),),
    )
    again = Transcript.from_json(transcript.to_json())
    assert again == transcript
    old = json.loads(transcript.to_json())
    for key in ("languages", "language_windows"):
        del old[key]
    del old["segments"][0]["language"], old["segments"][0]["language_probability"]
    loaded = Transcript.from_dict(old)
    assert loaded.segments[0].language is None and loaded.languages == ()
    assert "language" not in loaded.segments[0].to_dict()


@pytest.fixture(scope="module")
def base() -> Recognizer:
    # Two workers, so a long input is split (test_every_path...); one model load for all.
    return Recognizer(resolve_model("base").path, "base", ModelOptions(jobs=2, threads=2))


def test_each_language_is_decoded_in_its_own(base: Recognizer) -> None:
    audio = load(str(MEDIA / "two_languages.wav"))
    found = base.recognize(audio, DecodeOptions())
    languages = [s.language for s in found.segments]
    assert languages[0] == "en" and languages[-1] == "es", languages
    spanish = " ".join(s.text for s in found.segments if s.language == "es").lower()
    assert all(w in spanish for w in ("hablamos", "madrid", "barcelona")), spanish
    english = " ".join(s.text for s in found.segments if s.language == "en").lower()
    assert "welcome" in english and "madrid" not in english
    assert all(s.start >= 4.0 for s in found.segments if s.language == "es")
    assert all(0.0 < (s.language_probability or 0.0) <= 1.0 for s in found.segments)


def test_a_language_given_is_the_only_one(base: Recognizer) -> None:
    audio = load(str(MEDIA / "two_languages.wav"))
    found = base.recognize(audio, DecodeOptions(language="en"))
    assert {s.language for s in found.segments} == {"en"} and found.language == "en"


def test_language_windows_say_where_speech_is_and_its_language(base: Recognizer) -> None:
    audio = load(str(MEDIA / "two_languages.wav"))
    windows = base.language_windows(audio, 4.0)  # the last window ends with the input
    ends = [0.0, 4.0, 4.0, 8.0, 8.0, pytest.approx(audio.duration, abs=1e-3)]
    assert [t for w in windows for t in (w.start, w.end)] == ends
    assert windows[0].speech and windows[0].language == "en"
    assert windows[1].speech and windows[1].language == "es"


def test_every_path_finds_both_languages(base: Recognizer) -> None:
    # The fixture's Spanish said twice: in the first window Spanish then scores 0.30 beside
    # English's 0.55 (base, an AMD EPYC), three times SwitchRule.rival. The fixture alone
    # scores 0.10-0.11, right at the rule, and CPUs differ on which side (a Xeon put it below,
    # so the whole part came out English): this test is about the paths, not that rule.
    audio = load(str(MEDIA / "two_languages.wav"))
    spanish = audio.samples[4 * RATE :]  # from where the fixture says it (windows test above)
    samples = np.concatenate([audio.samples, spanish])
    mixed = replace(audio, samples=samples)
    batched = base.recognize(mixed, DecodeOptions(batch_size=4))
    assert _runs([s.language for s in batched.segments]) == ["en", "es"], batched.segments
    assert "barcelona" in " ".join(s.text for s in batched.segments[1:]).lower()
    # Two copies 45 s apart: cut in the silence into two parts decoded side by side, each
    # finding its own languages.
    silence = np.zeros(45 * RATE, np.float32)
    twice = replace(mixed, samples=np.concatenate([samples, silence, samples]))
    found = base.recognize(twice, DecodeOptions())
    assert _runs([s.language for s in found.segments]) == ["en", "es", "en", "es"], found.segments
    second = [s for s in found.segments if s.start > 50.0]
    assert second and second[0].language == "en"


def _runs(languages: list[str | None]) -> list[str | None]:
    """The languages in the order they come, each run of one counted once."""
    return [x for i, x in enumerate(languages) if i == 0 or languages[i - 1] != x]


def test_the_json_says_each_languages_share_and_each_window(media: Path) -> None:
    proc = run_cli(media / "speech.wav", "--language-windows", "2", "-f", "json,srt", *TINY)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((media / "speech.json").read_text(encoding="utf-8"))
    assert result["language"] == "en"
    assert [(x["language"], x["share"]) for x in result["languages"]] == [("en", 1.0)]
    assert all(s["language"] == "en" for s in result["segments"])
    windows = result["language_windows"]
    assert [w["start"] for w in windows] == [0.0, 2.0, 4.0] and all(w["speech"] for w in windows)
    assert result["options"]["language_windows"] == 2.0
    srt = (media / "speech.srt").read_text(encoding="utf-8")
    assert "language" not in srt and "fox" in srt.lower()  # other formats as they were


def test_a_context_heard_in_another_language_is_decoded_again_in_the_inputs(
    base: Recognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A split input's contexts decode before its language is found, each finding its own.
    One found in the input's language must have the tokens that language gives (so a part's
    prompt never depends on which finished first); one found in another is decoded again.
    Every guess is reported wrong here, so both decodes of the context are seen."""
    sentences = load(str(MEDIA / "long_speech.wav"))
    samples = np.concatenate([sentences.samples] * 4)  # 78 s of English: two parts
    real = base._context
    calls: list[tuple[str | None, list[int] | None]] = []

    def misheard(*args: Any) -> tuple[str, list[int] | None]:
        language, tokens = real(*args)
        given = args[-1]["language"]
        calls.append((given, tokens))
        return (language if given else "es"), tokens

    monkeypatch.setattr(base, "_context", misheard)
    found = base.recognize(replace(sentences, samples=samples), DecodeOptions())
    assert [given for given, _ in calls] == [None, "en"]
    assert calls[0][1] and calls[0][1] == calls[1][1]
    assert found.language == "en" and {s.language for s in found.segments} == {"en"}
    text = " ".join(s.text for s in found.segments).lower()
    assert all(text.count(w) == 4 for w in ("welcome", "paris", "umbrella", "elephant")), text
