"""Output planning (names from the writer's extension, inside the output directory) and the
order inputs run in side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffscribe.core.batch.contract import OutputOptions, plan_outputs, run_batch
from ffscribe.core.batch.inputs import Input
from ffscribe.core.batch.report import InputResult
from ffscribe.core.data.options import ModelOptions
from ffscribe.core.data.transcript import Source
from ffscribe.core.engine.pipeline import Pipeline, PipelineOptions
from ffscribe.core.engine.pool import Engine
from ffscribe.formats import render
from tests.conftest import TEST_MODEL


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


class _Order:
    """BatchEvents that keep the order inputs start in."""

    def __init__(self) -> None:
        self.started_names: list[str] = []

    def started(self, item: Input, index: int, total: int) -> None:
        self.started_names.append(Path(item.local or "").name)

    def downloading(self, item: Input, done: float, total: float | None) -> None:
        pass

    def progress(self, item: Input, done: float, total: float) -> None:
        pass

    def finished(self, item: Input, result: InputResult) -> None:
        pass


def test_side_by_side_the_largest_file_starts_first(media: Path, tmp_path: Path) -> None:
    names = ["speech.mp3", "speech.wav", "long_speech.wav", "dialogue2.wav"]  # by size
    items = [
        Input(Source("file", str(media / n)), n.replace(".", "_"), str(media / n), media)
        for n in names
    ]
    order = _Order()
    pipeline = Pipeline(PipelineOptions(model=ModelOptions(name=TEST_MODEL, jobs=2)))
    with Engine(pipeline) as engine:
        report = run_batch(
            items,
            engine,
            lambda t, fmt, out: out.write(render(t, fmt)),
            OutputOptions(formats=("txt",), output_dir=tmp_path),
            events=order,
        )
    assert [Path(r.input).name for r in report.results] == names  # reported as given
    assert all(r.status == "done" for r in report.results)
    assert order.started_names[-1] == "speech.mp3"  # the smallest waits for a free worker
    assert set(order.started_names[:2]) == {"dialogue2.wav", "long_speech.wav"}


def test_a_long_input_keeps_its_finished_parts_while_it_runs(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sidecar of finished parts lives while the input runs and goes with its outputs."""
    from ffscribe.core.batch.contract import parts_path
    from ffscribe.core.engine.checkpoint import Checkpoint, PartDone

    long = media / "long.wav"
    sentences = media / "long_speech.wav"
    _concat(long, [sentences] * 4)  # 78 s: two parts with two workers
    item = Input(Source("file", str(long)), "long", str(long), media)
    dest = tmp_path / "long.txt"
    sidecar = parts_path(dest)
    assert sidecar == tmp_path / ".long.ffscribe-parts.json"
    saved: list[int] = []

    class Watching(Checkpoint):
        def save(self, index: int, part: PartDone) -> None:
            super().save(index, part)
            saved.append(index)
            assert self.path.exists()

    monkeypatch.setattr("ffscribe.core.batch.contract.Checkpoint", Watching)
    pipeline = Pipeline(PipelineOptions(model=ModelOptions(name=TEST_MODEL, jobs=2)))
    with Engine(pipeline) as engine:
        report = run_batch(
            [item],
            engine,
            lambda t, fmt, out: out.write(render(t, fmt)),
            OutputOptions(formats=("txt",), output_dir=tmp_path),
        )
    assert report.results[0].status == "done" and dest.exists()
    assert sorted(saved) == [0, 1] and not sidecar.exists()


def _concat(dest: Path, parts: list[Path]) -> None:
    import wave

    with wave.open(str(parts[0]), "rb") as first:
        params = first.getparams()
    with wave.open(str(dest), "wb") as out:
        out.setparams(params)
        for part in parts:
            with wave.open(str(part), "rb") as src:
                out.writeframes(src.readframes(src.getnframes()))
