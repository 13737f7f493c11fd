"""Which process runs the retention scheduler's jobs: one per database, elected by a lock that
dies with its holder.

APScheduler 3 cannot share a job store between running schedulers (each would run every job),
so every process keeps its scheduler started but paused, writing the jobs its rooms need into the
shared store, and only the holder of the lock runs them. The lock is one the database server (or
the kernel) releases when the holder's connection (or process) dies, so a killed leader is
replaced at the next election round without anyone cleaning up after it:

- PostgreSQL: a session-level advisory lock held on a connection of its own;
- SQLite: an exclusive `flock` on a file beside the database (one machine shares that file);
- an in-memory database belongs to one process, which always leads.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x526F6F6D  # "Room": any constant every Roomscribe process agrees on
"""The advisory lock's key; one purge leader per PostgreSQL database."""


class Leadership(Protocol):
    def acquire(self) -> bool:
        """Hold the lock now if it is free (never waits); True while this process holds it."""

    def holds(self) -> bool:
        """Whether this process still holds the lock (a dropped connection loses it)."""

    def release(self) -> None:
        """Give the lock up, if held."""


class AlwaysLeader:
    """A database no other process can open."""

    def acquire(self) -> bool:
        return True

    def holds(self) -> bool:
        return True

    def release(self) -> None:
        pass


class FileLeadership:
    """An exclusive `flock` on `path`; the kernel drops it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def holds(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


class AdvisoryLeadership:
    """`pg_try_advisory_lock` on a connection kept for as long as the lock is held."""

    def __init__(self, engine: Engine, key: int = ADVISORY_KEY) -> None:
        self.engine = engine
        self.key = key
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.holds()
        conn = self.engine.connect()
        try:
            won = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": self.key}).scalar_one())
            conn.commit()  # the lock is the session's, not the transaction's
        except Exception:
            conn.close()
            raise
        if not won:
            conn.close()
            return False
        self._conn = conn
        return True

    def holds(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar_one()
            self._conn.commit()
        except Exception:
            # The server dropped the session, and the lock with it; someone else may lead now.
            log.warning("lost the retention leader's database connection", exc_info=True)
            self._forget()
            return False
        return True

    def release(self) -> None:
        self._forget()

    def _forget(self) -> None:
        # Invalidated, not returned to the pool: ending the session is what surely frees a
        # session-level lock (a pooled connection would keep holding it).
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None


def leadership_for(engine: Engine) -> Leadership:
    """The election that fits the database behind `engine`."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLeadership(engine)
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        return FileLeadership(Path(f"{database}.retention-leader"))
    return AlwaysLeader()
