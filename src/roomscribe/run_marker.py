"""How a start tells a killed server from a stopped one: rooms a killed server left live end as
crashed and are mixed from what their tracks hold; a stopped server's rooms carry on."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class RunMarker:
    """`data_dir/server.pid` while a server runs, removed when it stops.

    Finding one at start whose process is gone means the last server was killed (SIGKILL, out of
    memory, power), not stopped: a stopped server leaves its live rooms to resume, a killed one
    leaves them to be ended. A marker naming a process that is alive is another server on the
    same data folder, which is left alone.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "server.pid"

    def previous_run_crashed(self) -> bool:
        try:
            pid = int(self.path.read_text().strip())
        except FileNotFoundError:
            return False
        except ValueError:
            return True  # torn while being written: that process did not get far
        if pid == os.getpid():
            return True  # our own pid, reused after a restart (pid 1 in a container)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, owned by someone else
        log.warning("server %d still runs on %s; not ending its live rooms", pid, self.path.parent)
        return False

    def claim(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, self.path)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if int(self.path.read_text().strip()) == os.getpid():
                self.path.unlink()
