"""DashScope-style batch transcription: `POST /v1/batches` with http(s) URLs answers a task
id; `GET /v1/batches/{id}` gives each file's state and, once it is done, the URL of its result.

Batches and results are files under the server's data directory (`--data-dir`), written
atomically, so they survive a restart: a restarted server runs every file without an outcome
again. One bad file is recorded with its cause and the others go on (the batch contract).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ffscribe.cli.serve.errors import ApiError
from ffscribe.cli.serve.models import check_model
from ffscribe.cli.serve.service import Request as Asked
from ffscribe.cli.serve.service import Service, fetch_media, upload_folder
from ffscribe.core.data.transcript import Source, Transcript

log = logging.getLogger("ffscribe.serve.batches")
router = APIRouter(prefix="/v1/batches")
MAX_FILES = 1000
_ID = re.compile(r"^[0-9a-f]{32}$")
_PARAMETERS = {
    "language": str,
    "word_timestamps": bool,
    "diarize": bool,
    "speakers": int,
    "min_speakers": int,
    "max_speakers": int,
    "detect_music": bool,
    "skip_music": bool,
}


class BatchStore:
    """One folder per batch: `batch.json` (what was asked), then `N.json` (file N's
    Transcript) or `N.error.json` (why it failed) as each file ends."""

    def __init__(self, root: Path) -> None:
        self.root = root  # made with the first batch: a server without batches writes nothing

    def create(self, urls: list[str], parameters: dict[str, Any]) -> str:
        from ffscribe.core.batch.outputs import atomic_write_text

        task_id = uuid.uuid4().hex
        folder = self.root / task_id
        folder.mkdir(parents=True)
        batch = {"file_urls": urls, "parameters": parameters, "submit_time": _now()}
        atomic_write_text(folder / "batch.json", json.dumps(batch, ensure_ascii=False))
        return task_id

    def batch(self, task_id: str) -> dict[str, Any] | None:
        path = self.root / task_id / "batch.json"
        if not _ID.match(task_id) or not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def result(self, task_id: str, n: int) -> Path:
        return self.root / task_id / f"{n}.json"

    def failure(self, task_id: str, n: int) -> dict[str, Any] | None:
        path = self.root / task_id / f"{n}.error.json"
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def save_result(self, task_id: str, n: int, transcript: Transcript) -> None:
        from ffscribe.core.batch.outputs import atomic_write_text

        atomic_write_text(self.result(task_id, n), transcript.to_json())

    def save_failure(self, task_id: str, n: int, error: ApiError) -> None:
        from ffscribe.core.batch.outputs import atomic_write_text

        body = {"code": error.code or str(error.status), "message": error.message}
        atomic_write_text(self.root / task_id / f"{n}.error.json", json.dumps(body))

    def finished_at(self, task_id: str) -> float | None:
        """When the batch's last file ended (its newest outcome), or None while a file has
        none."""
        batch = self.batch(task_id)
        if batch is None:
            return None
        times = []
        for n in range(len(batch.get("file_urls", []))):
            for path in (self.result(task_id, n), self.root / task_id / f"{n}.error.json"):
                with contextlib.suppress(FileNotFoundError):
                    times.append(path.stat().st_mtime)
                    break
            else:
                return None
        return max(times, default=None)

    def remove_expired(self, retention: float, now: float | None = None) -> list[str]:
        """Remove the batches finished more than `retention` seconds ago (results included);
        a batch with a file still to run is kept however old. Returns the ids removed."""
        if retention <= 0 or not self.root.is_dir():
            return []
        now = time.time() if now is None else now
        removed = []
        for folder in self.root.iterdir():
            ended = self.finished_at(folder.name) if _ID.match(folder.name) else None
            if ended is None or now - ended <= retention:
                continue
            # Renamed first: a reader never sees a batch half removed, only none.
            doomed = folder.with_name(f".removing-{folder.name}")
            with contextlib.suppress(FileNotFoundError):
                folder.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)
                removed.append(folder.name)
        for leftover in self.root.glob(".removing-*"):  # a removal cut short by a kill
            shutil.rmtree(leftover, ignore_errors=True)
        return removed

    def unfinished(self) -> list[tuple[str, int]]:
        """Every file without an outcome, oldest batch first."""
        if not self.root.is_dir():
            return []
        folders = sorted(
            (p for p in self.root.iterdir() if _ID.match(p.name) and (p / "batch.json").is_file()),
            key=lambda p: (p / "batch.json").stat().st_mtime,
        )
        todo = []
        for folder in folders:
            batch = self.batch(folder.name) or {}
            for n in range(len(batch.get("file_urls", []))):
                if not self.result(folder.name, n).is_file() and not self.failure(folder.name, n):
                    todo.append((folder.name, n))
        return todo


class BatchRunner:
    """Runs batch files one at a time on the engine, beside the interactive requests."""

    def __init__(self, service: Service, store: BatchStore) -> None:
        self.service = service
        self.store = store
        self.queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self.running: set[tuple[str, int]] = set()

    @contextlib.asynccontextmanager
    async def running_in_background(self) -> AsyncIterator[None]:
        """Pick up what a previous run left, and work through the queue until the app ends;
        a file cut short by the end has no outcome, so the next start runs it again."""
        for item in await run_in_threadpool(self.store.unfinished):
            self.queue.put_nowait(item)
        tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._sweep())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _sweep(self) -> None:
        """Remove expired batches at start and then every tenth of the retention (at least
        every hour), so a result stays at most about 10 % past its time."""
        retention = self.service.limits.batch_retention
        if retention <= 0:
            return
        while True:
            try:
                removed = await run_in_threadpool(self.store.remove_expired, retention)
            except OSError:
                log.exception("removing expired batches")
            else:
                for task_id in removed:
                    log.info("removed batch %s: finished over %gs ago", task_id, retention)
            await asyncio.sleep(min(max(retention / 10, 0.5), 3600.0))

    async def _work(self) -> None:
        while True:
            task_id, n = await self.queue.get()
            self.running.add((task_id, n))
            try:
                await self._one(task_id, n)
            finally:
                self.running.discard((task_id, n))

    async def _one(self, task_id: str, n: int) -> None:
        batch = self.store.batch(task_id)
        if batch is None:
            return
        url = batch["file_urls"][n]
        try:
            options = self.service.options(_asked(batch["parameters"]))
            async with upload_folder() as folder:
                limits = self.service.limits
                path = await run_in_threadpool(fetch_media, url, folder, limits, param="file_urls")
                source = Source(kind="url", uri=url)
                transcript = await self.service.transcribe(path, options, source=source)
            await run_in_threadpool(self.store.save_result, task_id, n, transcript)
        except ApiError as exc:
            if exc.code in ("shutting_down", "not_ready"):
                raise asyncio.CancelledError from None  # not the file's fault: run it again
            await run_in_threadpool(self.store.save_failure, task_id, n, exc)
        except Exception as exc:  # a bug: the file fails, the batch goes on
            log.exception("batch %s file %d", task_id, n)
            await run_in_threadpool(self.store.save_failure, task_id, n, ApiError(500, str(exc)))


@router.post("")
async def create(request: Request) -> JSONResponse:
    runner: BatchRunner = request.app.state.batches
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, 'the body is not JSON: send {"input": {"file_urls": [...]}}') from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    if body.get("model"):
        check_model(str(body["model"]), runner.service.served_name)
    urls = (body.get("input") or {}).get("file_urls", body.get("file_urls"))
    if not isinstance(urls, list) or not urls or len(urls) > MAX_FILES:
        raise ApiError(400, f"input.file_urls must list 1 to {MAX_FILES} URLs", param="file_urls")
    for url in urls:
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise ApiError(400, "only http and https URLs are fetched", param="file_urls")
    parameters = _parameters(body.get("parameters") or {})
    runner.service.options(_asked(parameters))  # a bad option fails now, not per file
    task_id = await run_in_threadpool(runner.store.create, urls, parameters)
    for n in range(len(urls)):
        runner.queue.put_nowait((task_id, n))
    return JSONResponse(
        {"request_id": str(uuid.uuid4()), "output": {"task_id": task_id, "task_status": "PENDING"}}
    )


@router.get("/{task_id}")
async def status(task_id: str, request: Request) -> JSONResponse:
    runner: BatchRunner = request.app.state.batches
    batch = runner.store.batch(task_id)
    if batch is None:
        raise ApiError(404, f"no batch {task_id!r}", param="task_id", code="not_found")
    results, counts = [], {"SUCCEEDED": 0, "FAILED": 0}
    for n, url in enumerate(batch["file_urls"]):
        entry: dict[str, Any] = {"file_url": url}
        failure = runner.store.failure(task_id, n)
        if runner.store.result(task_id, n).is_file():
            entry["subtask_status"] = "SUCCEEDED"
            entry["transcription_url"] = str(request.url_for("result", task_id=task_id, n=n))
        elif failure is not None:
            entry.update(subtask_status="FAILED", **failure)
        else:
            entry["subtask_status"] = "RUNNING" if (task_id, n) in runner.running else "PENDING"
        counts[entry["subtask_status"]] = counts.get(entry["subtask_status"], 0) + 1
        results.append(entry)
    total = len(results)
    output = {
        "task_id": task_id,
        "task_status": _overall(counts, total),
        "submit_time": batch["submit_time"],
        "results": results,
        "task_metrics": {
            "TOTAL": total,
            "SUCCEEDED": counts["SUCCEEDED"],
            "FAILED": counts["FAILED"],
        },
    }
    return JSONResponse({"request_id": str(uuid.uuid4()), "output": output})


@router.get("/{task_id}/files/{n}", name="result")
async def result(task_id: str, n: int, request: Request, format: str = "json") -> Response:
    """File N's result: ffscribe's JSON, or any format `transcribe --format` writes."""
    from ffscribe.core.data.errors import UsageError
    from ffscribe.formats import get_writer, render

    runner: BatchRunner = request.app.state.batches
    path = runner.store.result(task_id, n)
    if runner.store.batch(task_id) is None or not path.is_file():
        raise ApiError(404, "no such result (yet)", code="not_found")
    text = await run_in_threadpool(path.read_text, "utf-8")
    if format == "json":
        return Response(text, media_type="application/json")
    try:
        get_writer(format)
    except UsageError as exc:
        raise ApiError(400, exc.message, param="format") from None
    return PlainTextResponse(render(Transcript.from_json(text), format))


def _overall(counts: dict[str, int], total: int) -> str:
    finished = counts["SUCCEEDED"] + counts["FAILED"]
    if finished < total:
        return "RUNNING" if finished or counts.get("RUNNING") else "PENDING"
    return "FAILED" if counts["FAILED"] == total else "SUCCEEDED"


def _parameters(given: object) -> dict[str, Any]:
    """The batch's options, checked now and stored as given, so a restart rebuilds them."""
    if not isinstance(given, dict):
        raise ApiError(400, "parameters must be a JSON object", param="parameters")
    out = {}
    for name, value in given.items():
        kind = _PARAMETERS.get(name)
        if kind is None:
            raise ApiError(400, f"unknown parameter {name!r}", param="parameters")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ApiError(400, f"{name} must be a {kind.__name__}", param="parameters")
        out[name] = value
    return out


def _asked(parameters: dict[str, Any]) -> Asked:
    return Asked(**parameters)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
