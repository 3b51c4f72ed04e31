"""Per-input locks between processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ffscribe.core.batch.locks import remove_stale, try_lock
from ffscribe.core.data.errors import OutputError

HOLD = """
import sys, time
from pathlib import Path
from ffscribe.core.batch.locks import try_lock
with try_lock(Path(sys.argv[1])) as held:
    print(held, flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_process_sees_the_lock_held(tmp_path: Path) -> None:
    lock = tmp_path / "not-yet" / ".x.ffscribe-lock"  # the directory does not exist yet
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), "3"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
    with try_lock(lock) as held:
        assert held is False
    holder.wait(timeout=30)
    assert not lock.exists()
    with try_lock(lock) as held:
        assert held is True and lock.exists()
    assert not lock.exists()


def test_a_symlink_at_the_lock_never_creates_its_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "planted"
    outside.parent.mkdir()
    lock = tmp_path / "out" / ".talk.ffscribe-lock"
    lock.parent.mkdir()
    lock.symlink_to(outside)
    with try_lock(lock) as held:
        assert held is True and not lock.is_symlink()
    assert not outside.exists() and not lock.exists()


def test_a_lock_that_cannot_be_made_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write here"), try_lock(blocker / "sub" / ".x"):
        pass


def test_stale_locks_go_and_held_ones_stay(tmp_path: Path) -> None:
    stale, held_path = tmp_path / ".a.ffscribe-lock", tmp_path / ".b.ffscribe-lock"
    stale.write_text("")  # what a kill -9 leaves: a file nobody holds
    (tmp_path / ".c.ffscribe-lock").symlink_to(tmp_path / "target")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(held_path), "5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
    assert remove_stale(tmp_path) == 1
    assert not stale.exists() and held_path.exists()
    assert not (tmp_path / "target").exists()
    holder.kill()
    holder.wait(timeout=30)
    assert remove_stale(tmp_path) == 1 and not held_path.exists()
