"""What a stop must remove even when the thread that made it never gets back to its own
clean-up (stuck in a read or in the model): scratch folders, lock files, `.part` files.

Each maker registers an undo for as long as the thing lives; a front end that exits without
waiting for its workers runs them all first.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator

_UNDO: dict[int, Callable[[], None]] = {}
_LOCK = threading.Lock()
_KEYS = itertools.count()


@contextlib.contextmanager
def pending(undo: Callable[[], None]) -> Iterator[None]:
    """Keep `undo` on the list for the block; the block's own clean-up still runs as usual."""
    key = next(_KEYS)
    with _LOCK:
        _UNDO[key] = undo
    try:
        yield
    finally:
        with _LOCK:
            _UNDO.pop(key, None)


def undo_all() -> None:
    """Run every pending undo now, once each; errors (already gone) are ignored."""
    with _LOCK:
        undos = list(_UNDO.values())
        _UNDO.clear()
    for undo in undos:
        with contextlib.suppress(OSError):
            undo()
