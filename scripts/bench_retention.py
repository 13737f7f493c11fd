"""Retention sweep benchmark: one sweep over 100,000 rooms of which 1,000 are due. Goal: ≤ 5 s.

A fresh SQLite database (WAL, the application's own engine settings) in a temporary folder is
filled with `--rooms` retention rows, `--due` of them past their deadline. Each run times
`RetentionService.sweep(now)`: the due query, then for each due room the compare-and-set claim,
the purgers and the tombstone with its audit event. Two purger sets are timed: a no-op (the cost
of the bookkeeping alone) and real files (three small files a room, removed from disk). Between
runs the due rooms are restored, and the median of --repeat runs is reported.

Memory: `tracemalloc_peak_mib` is the peak of Python allocations during one extra sweep traced by
tracemalloc (kept out of the timed runs, which it would slow down); `maxrss_mib` is the process's
peak resident size (getrusage), filling the database included.

    .venv/bin/python scripts/bench_retention.py [--rooms 100000] [--due 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, update
from sqlmodel import SQLModel, col

from roomscribe.audit.tables import AuditEvent
from roomscribe.config import Settings
from roomscribe.db import make_engine
from roomscribe.retention.purgers import DirectoryPurger, Purger
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import Retention, RetentionState

NOW = datetime(2025, 6, 1, tzinfo=UTC)
GOAL_SECONDS = 5.0
FILE_SIZES = (4096, 2048, 2048)  # a mixed recording and two speaker tracks, shrunk


class NoopPurger:
    def purge(self, room_id: str) -> int:
        return 0


def populate(engine: Engine, rooms: int, due: int) -> list[str]:
    SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables[m.__tablename__]
                                                 for m in (AuditEvent, Retention)])
    due_ids = [f"due{i:06d}" for i in range(due)]
    rows = []
    for i in range(rooms):
        is_due = i < due
        # Due rooms ended 31+ days ago; the rest within the last 29 days, so not due.
        ended = NOW - (timedelta(days=31, minutes=i) if is_due else timedelta(minutes=i % 41760))
        rows.append({"room_id": due_ids[i] if is_due else f"room{i:06d}",
                     "room_title": f"Room {i}", "host_id": i % 5000, "ended_at": ended,
                     "retain_until": ended + timedelta(days=30), "hold": False,
                     "state": RetentionState.RETAINED, "bytes_removed": 0, "version": 0})
    with engine.begin() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(Retention), rows[start:start + 10_000])
    return due_ids


def restore(engine: Engine, due_ids: Sequence[str], files: Path | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(Retention).where(col(Retention.room_id).in_(due_ids)).values(
            state=RetentionState.RETAINED, purge_started_at=None, purged_at=None,
            bytes_removed=0, purge_reason=None))
    if files is not None:
        for room_id in due_ids:
            folder = files / room_id
            folder.mkdir(parents=True, exist_ok=True)
            for n, size in enumerate(FILE_SIZES):
                (folder / f"{n}.opus").write_bytes(b"\0" * size)


def sweep(engine: Engine, purgers: Sequence[Purger], due: int) -> float:
    service = RetentionService(engine, purgers=purgers)
    started = time.perf_counter()
    report = service.sweep(now=NOW)
    elapsed = time.perf_counter() - started
    if len(report.purged) != due or report.failed:
        raise SystemExit(f"sweep purged {len(report.purged)} of {due}, failed {report.failed}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        engine = make_engine(Settings(data_dir=Path(tmp) / "data"))
        started = time.perf_counter()
        due_ids = populate(engine, args.rooms, args.due)
        populate_s = time.perf_counter() - started
        files = Path(tmp) / "recordings"
        setups: dict[str, tuple[list[Purger], Path | None]] = {
            "noop": ([NoopPurger()], None),
            "files": ([DirectoryPurger(files)], files),
        }

        timings: dict[str, list[float]] = {name: [] for name in setups}
        due_query: list[float] = []
        for _ in range(args.repeat):
            for name, (purgers, folder) in setups.items():
                restore(engine, due_ids, folder)
                started = time.perf_counter()
                found = RetentionService(engine).due(now=NOW)
                due_query.append(time.perf_counter() - started)
                assert len(found) == args.due
                timings[name].append(sweep(engine, purgers, args.due))
                if folder is not None and any(folder.iterdir()):
                    raise SystemExit("files left behind after the sweep")

        restore(engine, due_ids, files)
        tracemalloc.start()
        sweep(engine, [DirectoryPurger(files)], args.due)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    medians = {name: round(statistics.median(t), 3) for name, t in timings.items()}
    print(json.dumps({
        "rooms": args.rooms,
        "due": args.due,
        "repeat": args.repeat,
        "populate_s": round(populate_s, 2),
        "due_query_s": round(statistics.median(due_query), 4),
        "sweep_s": medians,
        "sweep_runs_s": {name: [round(x, 3) for x in t] for name, t in timings.items()},
        "per_room_ms": {name: round(1000 * m / args.due, 3) for name, m in medians.items()},
        "goal_s": GOAL_SECONDS,
        "meets_goal": max(medians.values()) <= GOAL_SECONDS,
        "tracemalloc_peak_mib": round(peak / 2**20, 2),
        # ru_maxrss is in KiB on Linux.
        "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": sys.version.split()[0],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
