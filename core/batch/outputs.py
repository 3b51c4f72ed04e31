"""Output paths and atomic writes: a crash never leaves a half file or clobbers a good one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import string
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from ffscribe.core.data.errors import OutputError, UsageError
from ffscribe.core.engine import cleanup

DEFAULT_TEMPLATE = "{stem}.{ext}"
FIELDS = ("stem", "name", "ext")
NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, APFS, tmpfs)
# An output's temporary name is `.NAME.XXXXXXXX.part`, 15 bytes more than the name itself.
MAX_NAME_BYTES = NAME_MAX - len("..XXXXXXXX.part")
STEM_BYTES = 230  # a stem leaves room for the extension and the lock file's name
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def nbytes(text: str) -> int:
    """The length of `text` as a file name, in bytes (what the kernel's limit counts)."""
    return len(text.encode("utf-8", "surrogatepass"))


def cut_bytes(text: str, limit: int) -> str:
    """The longest head of `text` that is at most `limit` bytes, cut between characters."""
    if nbytes(text) <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += nbytes(char)
        if used > limit:
            return text[:index]
    return text


def fit(text: str, limit: int, *, keep: str = "") -> str:
    """`text + keep` when it fits in `limit` bytes; else `text` shortened with `-` and 8 hex
    of its SHA-1 before `keep`, so a long name stays one stable name across runs."""
    if nbytes(text) + nbytes(keep) <= limit:
        return text + keep
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = cut_bytes(text, limit - nbytes(keep) - 9).rstrip(" ._-")
    return f"{head}-{digest}{keep}"


def safe_name(text: str, *, max_len: int = 150, max_bytes: int = STEM_BYTES) -> str:
    """A file-name component made from `text`: no separators, controls, or leading dots, cut
    at `max_len` characters as names always were, then at `max_bytes` bytes with its hash."""
    cleaned = _cleaned(text)[:max_len].rstrip(" ._")
    return fit(cleaned, max_bytes) or "untitled"


def _cleaned(text: str) -> str:
    cleaned = unicodedata.normalize("NFC", text)
    cleaned = _UNSAFE.sub("_", cleaned).strip(" ._")
    return re.sub(r"\s+", " ", cleaned)


def check_template(template: str, formats: Sequence[str] = ()) -> None:
    """Refuse a template that names anything but {stem}, {name} and {ext} (attributes such
    as {stem.upper} would put Python's text into a file name), or that lacks {ext} when
    several formats would then all write one file."""
    bad = f"bad output template {template!r}"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise UsageError(f"{bad}: {exc}") from exc
    for name in fields:
        if name not in FIELDS:
            raise UsageError(f"{bad}: {{{name}}} is not one of {{stem}}, {{name}} and {{ext}}")
    if len(formats) > 1 and "ext" not in fields:
        raise UsageError(f"{bad}: without {{ext}} the {len(formats)} formats would share a file")


def output_path(
    out_dir: Path, stem: str, ext: str, template: str = DEFAULT_TEMPLATE, *, name: str | None = None
) -> Path:
    """Where the `ext` output of an input goes; always inside `out_dir`.

    The template knows {stem} (the input's name less its extension), {name} (the whole
    name, e.g. for talk.mp3 and talk.wav side by side) and {ext} (the format). Each part of
    the result is at most MAX_NAME_BYTES, the extension kept when it is shortened."""
    check_template(template)
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
    parts = [_cleaned(p) or "untitled" for p in re.split(r"[/\\]+", rendered)
             if p not in ("", ".", "..")]  # fmt: skip
    *folders, last = parts or [f"untitled.{ext}"]
    suffix = f".{safe_name(ext)}"
    if last.endswith(suffix) and len(last) > len(suffix):
        last = fit(last[: -len(suffix)], MAX_NAME_BYTES, keep=suffix)
    else:
        last = fit(last, MAX_NAME_BYTES)
    return out_dir.joinpath(*(fit(f, MAX_NAME_BYTES) for f in folders), last)


@contextlib.contextmanager
def atomic_writer(dest: Path, *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open a temporary file beside `dest`; rename it over `dest` only if the block succeeds."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{cut_bytes(dest.name, MAX_NAME_BYTES)}."  # a caller's long name fits too
        fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise OutputError(
            f"cannot write here: {exc.strerror or exc}", path=str(dest), stage="write"
        ) from exc
    tmp = Path(tmp_name)
    try:
        with cleanup.pending(tmp.unlink):
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


def check_writable(dest: Path) -> None:
    """Raise OutputError now if `dest` could not be written atomically later."""
    with contextlib.suppress(_Probe), atomic_writer(dest):
        raise _Probe  # leaves nothing: the temporary file goes with the failed block


class _Probe(Exception):
    """Ends check_writable's trial write before anything is renamed into place."""


def atomic_write_text(dest: Path, text: str) -> None:
    """Write `text` to `dest` atomically."""
    with atomic_writer(dest) as fh:
        fh.write(text)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
