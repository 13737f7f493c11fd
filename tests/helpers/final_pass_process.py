"""A final-pass worker process whose passes never finish, for the test that SIGKILLs it:
`python final_pass_process.py REDIS_URL MARKER` touches MARKER once it is running a pass."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from roomscribe.transcripts.final_pass_queue import final_pass_queue, final_pass_worker


class Stuck:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def complete(self, room_id: str) -> bool:
        self.marker.write_text(room_id)
        time.sleep(3600)
        return True


async def main(url: str, marker: Path) -> None:
    worker = final_pass_worker(final_pass_queue(url), Stuck(marker), touch=0.2, sweep=1)
    await worker.start()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
