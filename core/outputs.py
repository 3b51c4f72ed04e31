"""Output paths and atomic writes: a crash never leaves a half file or clobbers a good one."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ffscribe.core.errors import OutputError, UsageError

DEFAULT_TEMPLATE = "{stem}.{ext}"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_name(text: str, *, max_len: int = 150) -> str:
    """A file-name component made from `text`: no separators, controls, or leading dots."""
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = _UNSAFE.sub("_", cleaned).strip(" ._")
    cleaned = re.sub(r"\s+", " ", cleaned)
    return cleaned[:max_len].rstrip(" ._") or "untitled"


def output_path(
    out_dir: Path, stem: str, ext: str, template: str = DEFAULT_TEMPLATE, *, name: str | None = None
) -> Path:
    """Where the `ext` output of an input goes; always inside `out_dir`.

    The template knows {stem} (the input's name less its extension), {name} (the whole
    name, e.g. for talk.mp3 and talk.wav side by side) and {ext} (the format)."""
    try:
        # The values are made safe first: only the template's own slashes may make folders,
        # never a title or file name ("../../etc/passwd" stays one file-name component).
        rendered = template.format(
            stem=safe_name(stem), ext=safe_name(ext), name=safe_name(name or stem)
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            f"bad output template {template!r}: use {{stem}}, {{name}} and {{ext}} ({exc})"
        ) from exc
    parts = [safe_name(p) for p in re.split(r"[/\\]+", rendered) if p not in ("", ".", "..")]
    dest = out_dir.joinpath(*parts) if parts else out_dir / f"untitled.{ext}"
    return dest


@contextlib.contextmanager
def atomic_writer(dest: Path, *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open a temporary file beside `dest`; rename it over `dest` only if the block succeeds."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write here: {exc.strerror or exc}", path=str(dest), stage="write"
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(
                f"cannot write: {exc.strerror or exc}", path=str(dest), stage="write"
            ) from exc
        raise


def atomic_write_text(dest: Path, text: str) -> None:
    """Write `text` to `dest` atomically."""
    with atomic_writer(dest) as fh:
        fh.write(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
