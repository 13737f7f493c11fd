"""`roomscribe retention status|sweep`: the operator's view of the policy.

`--now` evaluates the policy at another instant: what a sweep would do tomorrow, or a test moving
time. Output is JSON, for scripts as much as for people.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime

from pydantic_core import to_jsonable_python
from sqlalchemy import Engine

from roomscribe.config import Settings
from roomscribe.console import print_json
from roomscribe.db import create_all, make_engine
from roomscribe.errors import InvalidInput
from roomscribe.retention.policy import Durations
from roomscribe.retention.purgers import Purger
from roomscribe.retention.service import RetentionService
from roomscribe.retention.tables import RetentionPublic

PurgersFor = Callable[[Settings, Engine], AbstractContextManager[Sequence[Purger]]]
"""Every domain's purger, open while the command runs: the wiring's list
(`purgers.command_purgers`), handed in by the CLI so retention never imports what it purges."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], *,
             purgers: PurgersFor) -> None:
    parser = sub.add_parser("retention", help="retention deadlines and purge sweeps")
    parser.set_defaults(purgers=purgers)
    actions = parser.add_subparsers(dest="retention_command", required=True, metavar="ACTION")

    status = actions.add_parser("status", help="one room's deadline, or counts over all rooms")
    status.add_argument("room", nargs="?", metavar="ROOM", help="a room id")
    status.add_argument("--now", metavar="ISO-8601",
                        help="evaluate the policy at this instant, e.g. 2025-03-01T12:00:00Z")
    status.set_defaults(handler=_status)

    sweep = actions.add_parser("sweep", help="purge every room past its deadline")
    sweep.add_argument("--now", metavar="ISO-8601",
                       help="evaluate the policy at this instant, e.g. 2025-03-01T12:00:00Z")
    sweep.add_argument("--dry-run", action="store_true", help="list what is due; delete nothing")
    sweep.set_defaults(handler=_sweep)


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--now: not an ISO 8601 instant: {text!r}") from None
    if value.tzinfo is None:
        # A sweep deletes data; an instant that means different things on different hosts
        # is refused rather than guessed.
        raise InvalidInput(f"--now: give a UTC offset, e.g. {text}Z")
    return value.astimezone(UTC)


@contextmanager
def _service(settings: Settings, purgers: PurgersFor) -> Iterator[RetentionService]:
    """The policy over the database, with every purger."""
    engine = make_engine(settings)
    create_all(engine)
    try:
        with purgers(settings, engine) as every:
            yield RetentionService(engine, durations=Durations.from_settings(settings),
                                   purgers=every)
    finally:
        engine.dispose()


def _status(args: argparse.Namespace, settings: Settings) -> int:
    now = _instant(args.now)
    with _service(settings, args.purgers) as service:
        if args.room is None:
            print_json(to_jsonable_python({"now": now, **asdict(service.summary(now=now))}))
            return 0
        row = service.get(args.room)
        verdict = service.verdict(args.room, now=now)
    print_json({**RetentionPublic.model_validate(row).model_dump(mode="json"),
                **to_jsonable_python({"now": now, "due": verdict.due,
                                      "may_download": verdict.may_download,
                                      "may_report": verdict.may_report})})
    return 0


def _sweep(args: argparse.Namespace, settings: Settings) -> int:
    with _service(settings, args.purgers) as service:
        report = service.sweep(now=_instant(args.now), dry_run=args.dry_run)
    print_json(to_jsonable_python(report))
    return 1 if report.failed else 0
