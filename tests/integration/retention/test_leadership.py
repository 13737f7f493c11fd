"""One purge leader per database, across processes: the lock, and two scheduler processes that
share a database purging every due room exactly once, through the leader's death.

On the embedded profile the database is a SQLite file (the lock is a `flock` beside it); on the
scale profile each test has its own PostgreSQL database (an advisory lock).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, text
from sqlmodel import Session, select

from helpers.profile import server_env
from helpers.retention import RoomData
from helpers.waiting import wait_for
from roomscribe.audit.tables import AuditAction, AuditEvent
from roomscribe.config import Settings
from roomscribe.retention.leadership import leadership_for
from roomscribe.retention.tables import Retention


def test_one_holder_at_a_time(engine: Engine, settings: Settings) -> None:
    from helpers.retention import engine_for

    other = engine_for(settings)
    try:
        first, second = leadership_for(engine), leadership_for(other)
        assert first.acquire() and first.holds()
        assert not second.acquire() and not second.holds()
        assert first.acquire()  # again: still ours
        first.release()
        assert not first.holds()
        assert second.acquire()
        assert not first.acquire()
        second.release()
    finally:
        other.dispose()


class Scheduler:
    """A `helpers.retention_process` child and the lines it printed."""

    def __init__(self, settings: Settings, root: Path, rooms: list[str]) -> None:
        env = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(settings.data_dir),
               **server_env(settings.data_dir),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]),
                                              os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "helpers.retention_process", str(root), *rooms],
            env=env, stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: dict[str, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))

    def said(self, word: str) -> bool:
        while not self.lines.empty():
            at, line = self.lines.get_nowait()
            self.seen.setdefault(line, at)
        assert self.proc.poll() is None or word in self.seen, "scheduler process died"
        return word in self.seen

    def kill(self) -> float:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return time.monotonic()


@pytest.fixture
def processes() -> Iterator[list[Scheduler]]:
    started: list[Scheduler] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.kill()


def purges(engine: Engine) -> dict[str, int]:
    query = (select(AuditEvent.room_id, func.count())
             .where(AuditEvent.action == AuditAction.PURGE).group_by(AuditEvent.room_id))
    with engine.connect() as conn:
        return {room: int(n) for room, n in conn.execute(query)}


def test_two_processes_purge_each_room_once_through_the_leaders_death(
        engine: Engine, settings: Settings, data: RoomData, tmp_path: Path,
        processes: list[Scheduler]) -> None:
    root = data.root
    early_a, late_a = [f"a{i}" for i in range(3)], [f"a{i}" for i in range(3, 6)]
    early_b, late_b = [f"b{i}" for i in range(3)], [f"b{i}" for i in range(3, 6)]
    first = Scheduler(settings, root, [f"3:{r}" for r in early_a] + [f"12:{r}" for r in late_a])
    processes.append(first)
    wait_for(lambda: first.said("leading"), within=30, what="the first process leads")
    second = Scheduler(settings, root, [f"3:{r}" for r in early_b] + [f"12:{r}" for r in late_b])
    processes.append(second)
    wait_for(lambda: second.said("registered"), within=30, what="the second one's rooms")

    # The follower's rooms are purged by the leader, through the shared job store.
    wait_for(lambda: set(purges(engine)) >= {*early_a, *early_b}, within=30,
             what="the early rooms purged")
    assert not second.said("leading")
    assert not set(purges(engine)) & {*late_a, *late_b}

    killed = first.kill()
    wait_for(lambda: second.said("leading"), within=10, what="the survivor leads")
    takeover = second.seen["leading"] - killed
    wait_for(lambda: set(purges(engine)) >= {*late_a, *late_b}, within=60,
             what="the late rooms purged by the survivor")

    counts = purges(engine)
    assert counts == dict.fromkeys([*early_a, *late_a, *early_b, *late_b], 1)
    for room in counts:
        assert data.remaining(room) == 0
    with Session(engine) as session:
        lateness = [(row.purged_at - row.retain_until).total_seconds()
                    for row in session.exec(select(Retention)) if row.purged_at]
    # Every room went within seconds of its deadline: polling the store (0.5 s here) and the
    # election (0.2 s here) bound the delay, not the hourly sweep.
    assert max(lateness) < 10, lateness
    assert takeover < 5
    print(json.dumps({"takeover_seconds": round(takeover, 2),
                      "purge_lateness_max_seconds": round(max(lateness), 2)}))


def test_a_leader_whose_session_the_server_ends_steps_down(engine: Engine,
                                                            settings: Settings) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's lock dies with its process, as the two-process test shows")
    from helpers.retention import engine_for

    other = engine_for(settings)
    try:
        first, second = leadership_for(engine), leadership_for(other)
        assert first.acquire()
        with other.connect() as conn:  # what a server restart or a network cut does
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                              "WHERE locktype = 'advisory' AND granted"))
        assert not first.holds()
        assert second.acquire()
        second.release()
    finally:
        other.dispose()
