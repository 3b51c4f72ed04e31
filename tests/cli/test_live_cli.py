"""`transcribe live` end to end: real ffmpeg, the real tiny.en model, committed fixtures paced
with --realtime, standard input fed by a real ffmpeg process, a stop mid-stream, silence."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import typer

from ffscribe.core.data.transcript import Transcript
from tests.conftest import MEDIA, TEST_MODEL, run_cli, transcribe_exe

LINE = re.compile(r"^\[(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\] (.+)$")
# long_speech.wav's words tiny.en gets right, in order (tests/fixtures/README.md).
LONG_WORDS = ["welcome", "meeting", "today", "weather", "paris", "remember", "umbrella", "roof"]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def _srt_cues(text: str) -> list[tuple[int, str, str]]:
    """(number, timing line, text) of every cue; asserts the SRT is well formed throughout."""
    cues = []
    for block in text.strip().split("\n\n") if text.strip() else []:
        number, timing, *lines = block.split("\n")
        assert re.fullmatch(r"\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", timing), block
        cues.append((int(number), timing, " ".join(lines)))
    assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    return cues


def _segments(path: Path) -> int:
    """How many segments a JSON output holds (0 before it exists: it is only ever renamed
    into place whole, so it parses whenever it is there)."""
    if not path.exists():
        return 0
    return len(Transcript.from_json(path.read_text(encoding="utf-8")).segments)


def test_realtime_fixture_commits_known_words_in_order_once(tmp_path: Path) -> None:
    out = run_cli(
        "live", MEDIA / "long_speech.wav", "--model", TEST_MODEL, "--realtime", "--speed", "4",
        "-f", "srt,vtt,txt,json", "-o", tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()  # a pipe: committed lines only
    assert lines and all(LINE.match(line) for line in lines), out.stdout
    words = [w for line in lines for w in _words(LINE.match(line).group(3))]  # type: ignore[union-attr]
    assert [w for w in words if w in LONG_WORDS] == LONG_WORDS
    starts = [LINE.match(line).group(1) for line in lines]  # type: ignore[union-attr]
    assert starts == sorted(starts)
    transcript = Transcript.from_json((tmp_path / "long_speech.json").read_text(encoding="utf-8"))
    assert [s.text.strip() for s in transcript.segments] == [
        LINE.match(line).group(3)
        for line in lines  # type: ignore[union-attr]
    ]
    assert len(_srt_cues((tmp_path / "long_speech.srt").read_text(encoding="utf-8"))) == len(lines)
    assert (tmp_path / "long_speech.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "long_speech.json", "long_speech.srt", "long_speech.txt", "long_speech.vtt"
    ]  # fmt: skip


def test_stdin_fed_by_a_real_ffmpeg_process_until_max_duration(tmp_path: Path) -> None:
    ffmpeg = os.environ["FFSCRIBE_FFMPEG"]
    producer = subprocess.Popen(
        [ffmpeg, "-loglevel", "quiet", "-i", str(MEDIA / "long_speech.wav"), "-f", "wav", "-"],
        stdout=subprocess.PIPE,
    )
    consumer = subprocess.run(
        [transcribe_exe(), "live", "-", "--model", TEST_MODEL, "--max-duration", "7.5",
         "-f", "srt,json", "-o", str(tmp_path)],
        stdin=producer.stdout,
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert producer.stdout is not None
    producer.stdout.close()
    producer.wait()  # it may have been cut short by the consumer leaving: not its failure
    assert consumer.returncode == 0, consumer.stderr
    heard = ["morning", "welcome", "meeting", "today", "weather", "paris"]
    assert [w for w in _words(consumer.stdout) if w in heard] == heard
    assert "train" not in _words(consumer.stdout)  # said at 8.7 s, after --max-duration
    transcript = Transcript.from_json((tmp_path / "live.json").read_text(encoding="utf-8"))
    assert transcript.duration == 7.5 and transcript.source.kind == "pipe"
    cues = _srt_cues((tmp_path / "live.srt").read_text(encoding="utf-8"))
    assert [c[2] for c in cues] == [s.text.strip() for s in transcript.segments]


def test_sigint_mid_stream_leaves_complete_outputs(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [transcribe_exe(), "live", str(MEDIA / "long_speech.wav"), "--model", TEST_MODEL,
         "--realtime", "-f", "srt,json", "-o", str(tmp_path), "--stdout"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the first committed segment: the stream is under way
    assert LINE.match(first.strip()), first
    # Mid-stream, both files already parse and hold that segment (written right after it).
    srt, js = tmp_path / "long_speech.srt", tmp_path / "long_speech.json"
    for _ in range(100):  # the files are written one after the other, after the line
        if _srt_cues(srt.read_text(encoding="utf-8")) and _segments(js):
            break
        time.sleep(0.1)
    assert _srt_cues(srt.read_text(encoding="utf-8"))[0][2] == LINE.match(first.strip()).group(3)  # type: ignore[union-attr]
    assert _segments(js)
    proc.send_signal(signal.SIGINT)
    rest, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    shown = [line for line in (first + rest).splitlines() if line]
    transcript = Transcript.from_json((tmp_path / "long_speech.json").read_text(encoding="utf-8"))
    assert len(transcript.segments) == len(shown) >= 1
    assert transcript.duration < 19.0  # it stopped before the end of the file
    cues = _srt_cues((tmp_path / "long_speech.srt").read_text(encoding="utf-8"))
    assert [c[2] for c in cues] == [s.text.strip() for s in transcript.segments]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long_speech.json", "long_speech.srt"]


def test_silence_in_nothing_out(tmp_path: Path) -> None:
    out = run_cli(
        "live", MEDIA / "silence.wav", "--model", TEST_MODEL, "-f", "json", "-o", tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    data = json.loads((tmp_path / "silence.json").read_text(encoding="utf-8"))
    assert data["segments"] == [] and data["text"] == ""


def test_a_capture_device_that_fails_is_one_line_and_exit_3() -> None:
    out = run_cli("live", "--device-name", "pulse:no-such-ffscribe-device", "--model", TEST_MODEL)
    assert out.returncode == 3, out.stderr
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "no microphone" in out.stderr and "--list-devices" in out.stderr


def test_refusals_before_any_work(tmp_path: Path) -> None:
    diarize = run_cli("live", MEDIA / "speech.wav", "--diarize", env={"COLUMNS": "200"})
    assert diarize.returncode == 2 and "not labelled live" in diarize.stderr
    (tmp_path / "speech.srt").write_text("keep me", encoding="utf-8")
    taken = run_cli("live", MEDIA / "speech.wav", "-f", "srt", "-o", tmp_path)
    assert taken.returncode == 2 and "--overwrite" in taken.stderr
    assert (tmp_path / "speech.srt").read_text(encoding="utf-8") == "keep me"


def test_a_file_the_batch_refuses_is_refused_in_the_batch_words(tmp_path: Path) -> None:
    """One line naming the input and the cause, exit 1, before the model loads."""
    causes = {
        tmp_path / "nope.wav": "no such file",
        MEDIA / "video_noaudio.mp4": "has no audio stream",
        MEDIA / "not_media.mp3": "not a media file",
        MEDIA / "empty.wav": "empty file",
    }
    for path, cause in causes.items():
        out = run_cli("live", path, "--model", "no-such-model-is-loaded")
        assert out.returncode == 1, out.stderr
        assert out.stdout == ""
        assert out.stderr.strip().splitlines() == [out.stderr.strip()], out.stderr
        assert path.name in out.stderr and cause in out.stderr, out.stderr
        assert out.stderr.startswith("transcribe: error: "), out.stderr  # as the batch says it


def test_every_live_option_is_in_help_and_the_man_page() -> None:
    from ffscribe.cli.live import app

    command = typer.main.get_command(app)
    flags = {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")}
    man = (Path(__file__).resolve().parents[2] / "man" / "transcribe.1").read_text(encoding="utf-8")
    live_section = man.replace("\\-", "-").split(".SH LIVE", 1)[-1].split("\n.SH ", 1)[0]
    missing = sorted(f for f in flags if not re.search(re.escape(f) + r"(?![\w-])", live_section))
    assert not missing, f"options missing from the LIVE section of man/transcribe.1: {missing}"
    help_text = run_cli("live", "--help", env={"COLUMNS": "200"}).stdout
    assert all(f in help_text for f in flags - {"--help"})


def test_the_batch_command_is_unchanged_and_a_file_named_live_needs_a_path(tmp_path: Path) -> None:
    (tmp_path / "live").write_bytes((MEDIA / "speech.wav").read_bytes())
    out = run_cli("./live", "--model", TEST_MODEL, "-f", "txt", "--stdout", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "fox" in out.stdout.lower()
    assert sys.executable  # the same interpreter runs both front ends


def test_on_a_terminal_the_tail_is_dimmed_and_committed_text_is_not() -> None:
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            transcribe_exe(),
            "live",
            str(MEDIA / "speech.wav"),
            "--model",
            TEST_MODEL,
            "--speed",
            "2",
        ],
        stdout=follower,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    screen = seen.decode("utf-8", "replace")
    dim, plain = "\x1b[2m", "\x1b[0m"
    assert dim in screen  # the changing tail, at least once
    # A committed line: its start time (dimmed), then its text in normal colour; where the
    # segments end depends on tiny.en's punctuation ("dog." or "dog,"), so all are read.
    stamp = re.compile(r"\[\d\d:\d\d:\d\d\.\d{3}\] " + re.escape(plain) + "(.*)")
    committed = [m[1] for line in screen.split("\r\n") if (m := stamp.search(line))]
    assert committed, screen
    text = " ".join(committed)
    assert dim not in text and "quick" in text.lower() and "test" in text.lower(), screen
