"""A process that runs a retention scheduler over a shared database, as each web process does.

    python -m helpers.retention_process ROOT DELAY:ROOM ...

Settings come from the environment (`ROOMSCRIBE_DATA_DIR`, `ROOMSCRIBE_DATABASE_URL`). Each
ROOM is registered as ended so that its deadline falls DELAY seconds from now, with files, rows
and index entries under ROOT that the purge must remove. Prints `registered` once they are in,
then `leading` when this process is elected; runs until killed.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers.retention import RoomData, ended_room, engine_for
from roomscribe.config import Settings
from roomscribe.retention.policy import Durations
from roomscribe.retention.scheduler import RetentionScheduler
from roomscribe.retention.service import RetentionService

ELECTION_EVERY = timedelta(seconds=0.2)
STORE_POLL = timedelta(seconds=0.5)


def main(root: Path, rooms: list[str]) -> None:
    engine = engine_for(Settings())
    data = RoomData(root, engine)
    service = RetentionService(engine, purgers=[data])
    scheduler = RetentionScheduler(service, engine=engine, name="shared", sweep_at_start=False,
                                   election_every=ELECTION_EVERY, store_poll=STORE_POLL)
    scheduler.start()
    keep = Durations().retention
    for spec in rooms:
        delay, room_id = spec.split(":")
        data.create(room_id)
        ended = datetime.now(UTC) - keep + timedelta(seconds=float(delay))
        service.register(ended_room(room_id, ended_at=ended))
    print("registered", flush=True)
    announced = False
    while True:
        if scheduler.leading and not announced:
            print("leading", flush=True)
            announced = True
        time.sleep(0.05)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
