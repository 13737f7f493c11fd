"""Every domain's share of a retention purge, listed once, for the app and the operator commands.

Each domain that keeps something of a room provides a `Purger` (see `retention.service`); this is
the one list of them, named here rather than found by module strings, so a reader (and the type
checker) can follow a purge to everything it deletes. The search index is passed in because it
has one writer per process: the app's, or the one a command opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from roomscribe.archive.index import Index
from roomscribe.archive.replication import Replication, replication_for
from roomscribe.archive.service import IndexPurger
from roomscribe.config import Settings
from roomscribe.recordings.service import RecordingPurger
from roomscribe.recordings.storage import open_storage
from roomscribe.retention.purgers import Purger
from roomscribe.transcripts.purgers import TranscriptPurger


def purgers(settings: Settings, engine: Engine, index: Index,
            replication: Replication) -> list[Purger]:
    """Recordings (tracks and mix), transcripts (every version), the search index (this
    process's copy and, through `replication`, every other process's)."""
    return [RecordingPurger(open_storage(settings), engine), TranscriptPurger(engine),
            IndexPurger(index, replication)]


@contextmanager
def command_purgers(settings: Settings, engine: Engine) -> Iterator[list[Purger]]:
    """The same list for an operator command, with a search index of the command's own to write
    while it runs (a server writing it too takes turns through whoosh's lock)."""
    index = Index.from_settings(settings)
    replication = replication_for(settings)
    try:
        yield purgers(settings, engine, index, replication)
    finally:
        index.close()
        replication.close_blocking()
