"""Output planning: names come from the writer's extension and stay in the output directory."""

from __future__ import annotations

from pathlib import Path

from ffscribe.core.batch import OutputOptions, plan_outputs
from ffscribe.core.inputs import Input
from ffscribe.core.transcript import Source


def test_names_use_the_writers_extension(tmp_path: Path) -> None:
    item = Input(
        Source("file", str(tmp_path / "talk.mp3")), "talk", str(tmp_path / "talk.mp3"), tmp_path
    )
    options = OutputOptions(formats=("json", "srt"), extensions={"json": "transcript.json"})
    assert plan_outputs(item, options) == {
        "json": tmp_path / "talk.transcript.json",
        "srt": tmp_path / "talk.srt",
    }


def test_remote_names_stay_inside_the_output_directory(tmp_path: Path) -> None:
    item = Input(Source("feed-item", "http://127.0.0.1/a.mp3"), "../../etc/passwd", None, None)
    dests = plan_outputs(item, OutputOptions(formats=("txt",), output_dir=tmp_path))
    assert dests["txt"].parent == tmp_path
