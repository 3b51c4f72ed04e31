"""Output planning (names from the writer's extension, inside the output directory) and the
order inputs run in side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ffscribe.core.batch import OutputOptions, plan_outputs, run_batch
from ffscribe.core.inputs import Input
from ffscribe.core.options import ModelOptions
from ffscribe.core.pipeline import Pipeline, PipelineOptions
from ffscribe.core.report import InputResult
from ffscribe.core.transcript import Source, Transcript
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
    pipeline = _SplitSeen(Pipeline(PipelineOptions(model=ModelOptions(name=TEST_MODEL, jobs=2))))
    report = run_batch(
        items,
        pipeline,
        lambda t, fmt, out: out.write(render(t, fmt)),
        OutputOptions(formats=("txt",), output_dir=tmp_path),
        events=order,
        jobs=2,
    )
    assert [Path(r.input).name for r in report.results] == names  # reported as given
    assert all(r.status == "done" for r in report.results)
    assert order.started_names[-1] == "speech.mp3"  # the smallest waits for a free worker
    assert set(order.started_names[:2]) == {"dialogue2.wav", "long_speech.wav"}
    # An input may be cut into parts when nothing waits, or when it is larger than all that
    # waits (with two workers): dialogue2.wav (662 kB) started with 836 kB waiting. Decided
    # in the order of starting, whichever of the first two takes a worker first.
    assert pipeline.split == {
        "dialogue2.wav": False,
        "long_speech.wav": True,
        "speech.wav": True,
        "speech.mp3": True,
    }


class _SplitSeen:
    """The real pipeline, noting whether the batch let each input be cut into parts."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.split: dict[str, bool] = {}

    def run(
        self,
        path: str,
        *,
        source: Source | None = None,
        progress: Callable[[float, float], None] | None = None,
        split: bool = True,
        warn: Callable[[str], None] | None = None,
    ) -> Transcript:
        self.split[Path(path).name] = split
        return self.pipeline.run(path, source=source, progress=progress, split=split, warn=warn)


def test_an_input_is_cut_when_it_outlasts_the_inputs_after_it() -> None:
    from ffscribe.core.batch import _may_split

    assert _may_split([662, 627, 185, 24], 2) == [False, True, True, True]
    assert _may_split([662, 627, 185, 24], 4) == [True, True, True, True]  # per other worker
    # An input of unknown size (a URL, stdin) waiting keeps those before it whole.
    assert _may_split([500, 0, 10], 2) == [False, False, True]
    assert _may_split([], 2) == []
