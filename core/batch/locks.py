"""Per-input locks, so two runs over the same outputs (cron overlapping itself) never do the
same input twice: the second sees the lock held and skips."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ffscribe.core.batch.outputs import NAME_MAX, fit
from ffscribe.core.data.errors import OutputError
from ffscribe.core.engine import cleanup

log = logging.getLogger("ffscribe.locks")

SUFFIX = ".ffscribe-lock"
# O_NOFOLLOW: a symlink planted at the lock's name must not make us create its target.
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def lock_for(dest: Path) -> Path:
    """The lock file of the input whose first output is `dest`: hidden, beside it."""
    return dest.with_name(fit(f".{dest.stem}", NAME_MAX, keep=SUFFIX))


@contextlib.contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on `path` for the block; yields False at once if another
    process holds it. The lock file is removed on the way out. Raises OutputError when the
    lock cannot be made (an unwritable directory): before any work, not after it."""
    while True:
        fd = _open(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        # The holder before us may have unlinked the file after we opened it: then our lock
        # is on an orphan inode and a third process could lock a new file. Retry on a new one.
        try:
            same = os.fstat(fd).st_ino == os.lstat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        with cleanup.pending(lambda: os.unlink(path)):
            yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _open(path: Path) -> int:
    """Open (or create) the lock file itself, never what a symlink there points to: such a
    link is not ours, so it is removed (the link only, never its target) and the file made."""
    for _ in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, _OPEN_FLAGS, 0o644)
        except OSError as exc:
            if exc.errno != errno.ELOOP or not path.is_symlink():
                raise OutputError(
                    f"cannot write here: {exc.strerror or exc}", path=str(path.parent)
                ) from exc
            log.warning("removing a symbolic link found at the lock %s", path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    raise OutputError("cannot make a lock file: a symbolic link keeps coming back", path=str(path))


def remove_stale(directory: Path) -> int:
    """Remove the lock files in `directory` that no process holds (left by a kill -9);
    returns how many. Locks held by a running transcribe, and anything else, stay."""
    removed = 0
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and n.endswith(SUFFIX)]
    except OSError:
        return 0
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue  # gone already, or a symlink: try_lock deals with that one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Held by us now, so no one else can be using it; a process that opened it just
            # before this unlink retries on a new file (the inode check in try_lock).
            if os.fstat(fd).st_ino == os.lstat(path).st_ino:
                os.unlink(path)
                removed += 1
        except OSError:
            pass  # held by a live run (BlockingIOError) or gone
        finally:
            os.close(fd)
    return removed
