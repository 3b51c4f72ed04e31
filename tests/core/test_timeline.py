"""Spans of time per thread, recorded only when asked for (bench/timeline.py reads them)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ffscribe.core.engine import timeline


def test_off_it_records_nothing_and_wraps_nothing() -> None:
    assert not timeline.enabled()  # the suite runs without FFSCRIBE_TIMELINE
    assert timeline.span("a") is timeline.span("b")  # one shared no-op context
    assert timeline.wrap("x", len) is len
    with timeline.span("a"):
        pass
    assert timeline._spans == []


def test_on_each_thread_records_its_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "spans.jsonl"
    monkeypatch.setattr(timeline, "_path", str(out))

    def work() -> None:
        with timeline.span("outer"):
            time.sleep(0.02)
            assert list(timeline.iterate("item", iter([1, 2]))) == [1, 2]
            timeline.wrap("sum", sum)([1, 2])

    thread = threading.Thread(target=work, name="helper")
    thread.start()
    thread.join()
    timeline._write()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    spans = [r for r in records if "start" in r]
    assert any(r.get("cpu_total", -1) >= 0 for r in records)  # and each OS thread's CPU
    assert [s["name"] for s in spans] == ["item", "item", "item", "sum", "outer"]
    assert {s["thread"] for s in spans} == {"helper"}
    outer = spans[-1]
    assert outer["end"] - outer["start"] >= 0.02
    assert all(outer["start"] <= s["start"] <= s["end"] <= outer["end"] for s in spans)
    assert timeline._spans == []  # written once
