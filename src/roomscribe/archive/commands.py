"""`roomscribe index rebuild`: the search index written afresh from the database.

For an index lost or damaged on disk, or built by another version. Safe while the server runs:
the two take turns at whoosh's lock, and searches see the old index until the one commit.
"""

from __future__ import annotations

import argparse

from roomscribe.archive.service import ArchiveService
from roomscribe.config import Settings
from roomscribe.db import create_all, make_engine


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("index", help="the search index of transcripts")
    actions = parser.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    actions.add_parser("rebuild", help="rebuild the whole index from the database").set_defaults(
        handler=_rebuild)


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    engine = make_engine(settings)
    create_all(engine)
    archive = ArchiveService.from_settings(settings, engine)
    try:
        count = archive.rebuild()
    finally:
        archive.index.close()
        engine.dispose()
    print(f"indexed {count} transcript segments")
    return 0
