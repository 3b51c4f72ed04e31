"""Per-input locks between processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ffscribe.core.locks import try_lock

HOLD = """
import sys, time
from pathlib import Path
from ffscribe.core.locks import try_lock
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
