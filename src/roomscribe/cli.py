"""The `roomscribe` command: the service and every operator task, one subcommand each.

Errors Roomscribe raises on purpose print as one line on stderr with exit status 2; nothing an
operator can cause ends in a traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from roomscribe.config import Settings, get_settings
from roomscribe.errors import RoomscribeError

Handler = Callable[[argparse.Namespace, Settings], int]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from roomscribe.app import SERVER_OPTIONS, create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(create_app(settings), host=args.host or settings.host,
                port=args.port or settings.port, log_level="info", proxy_headers=True,
                forwarded_allow_ips=settings.forwarded_allow_ips, **SERVER_OPTIONS)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    import faulthandler
    import logging
    import signal

    from roomscribe.asr.engine import Transcriber
    from roomscribe.captions.languages import LanguageEngines
    from roomscribe.captions.live_engine import LiveEngine
    from roomscribe.captions.numbering import RedisNumbering
    from roomscribe.captions.worker import CaptionWorker
    from roomscribe.db import make_engine
    from roomscribe.recordings.storage import open_storage
    from roomscribe.redis_pool import redis_client
    from roomscribe.transcripts.final_pass import FinalPass
    from roomscribe.transcripts.final_pass_queue import final_pass_queue, final_pass_worker

    if not settings.redis_url:
        raise SystemExit("roomscribe worker: set ROOMSCRIBE_REDIS_URL (the web processes' Redis)")
    url = settings.redis_url
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1` prints a stuck worker's stacks
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        # Final passes share the live streams' model; one at a time, beside them.
        model = Transcriber.from_settings(settings,
                                          num_workers=max(1, min(2, settings.asr_threads)))
        engine = LiveEngine.from_settings(settings, numbering=RedisNumbering(redis_client(url)),
                                          transcriber=model)
        redis = redis_client(url)
        engines = LanguageEngines(engine, lambda: LiveEngine.from_settings(
            settings, numbering=engine.numbering, model=settings.multilingual_model))
        worker = CaptionWorker(redis, engines, capacity=args.streams or settings.worker_streams)
        passes = final_pass_worker(final_pass_queue(url), FinalPass(
            make_engine(settings), open_storage(settings), settings, transcriber=model))
        passes.SIGNALS = []  # the signals stop both workers, below
        stopping = set()

        def stop() -> None:
            worker.stop()
            stopping.add(asyncio.ensure_future(passes.stop()))

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop)
        async with engines:
            await asyncio.gather(worker.run(), passes.start())
        await engine.numbering.close()
        await passes.queue.disconnect()
        await redis.aclose()

    asyncio.run(run())
    return 0


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.asr.catalog import Catalog

    catalog = Catalog(settings.models_dir)
    for name, entry in catalog.entries.items():
        where = catalog.location(name)
        state = f"installed at {where}" if where else f"not installed ({catalog.fix_command(name)})"
        print(f"{name:10} {entry.language:13} {state}")
    return 0


def _models_verify(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.asr.catalog import Catalog

    catalog = Catalog(settings.models_dir)
    bad = 0
    for name in catalog.entries:
        status = catalog.status(name, verify=True)
        if not status.installed:
            print(f"{name:10} not installed")
        elif status.verified:
            print(f"{name:10} ok ({status.path})")
        else:
            bad += 1
            print(f"{name:10} CORRUPT ({status.path}); run: {catalog.fix_command(name)}")
    return 1 if bad else 0


def _models_install(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.asr.catalog import Catalog

    path = Catalog(settings.models_dir).install(args.name)
    print(f"{args.name} installed and verified at {path}")
    return 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.db import current_revision, make_engine, migrate

    engine = make_engine(settings)
    try:
        migrate(engine, args.revision)
        print(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def _db_current(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.db import current_revision, head_revision, make_engine

    engine = make_engine(settings)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    print(f"database at {current or 'no revision (empty)'}; newest is {head}")
    return 0 if current == head else 1


def _db_revision(args: argparse.Namespace, settings: Settings) -> int:
    from alembic import command

    from roomscribe.db import alembic_config, make_engine

    engine = make_engine(settings)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.revision(config, message=args.message, autogenerate=True)
    finally:
        engine.dispose()
    return 0


def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from roomscribe.asr.engine import Transcriber
    from roomscribe.captions.formats import render
    from roomscribe.media.ffmpeg import decode

    audio = decode(Path(args.input), max_bytes=settings.max_upload_bytes,
                   max_seconds=settings.max_duration_seconds)
    transcriber = Transcriber.from_settings(settings, model=args.model)
    segments = transcriber.transcribe(audio)
    text = render(segments, args.format, max_line=args.max_line)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomscribe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
    serve.set_defaults(handler=_serve)

    worker = sub.add_parser("worker", help="an ASR worker: live captions and final passes for "
                            "the web processes that share its Redis (ROOMSCRIBE_ASR=workers)")
    worker.add_argument("--streams", type=int, help="speaker streams served at once "
                        "(default ROOMSCRIBE_WORKER_STREAMS)")
    worker.set_defaults(handler=_worker)

    models = sub.add_parser("models", help="list, verify and install Whisper models")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    msub.add_parser("list", help="models in the catalog and where they are").set_defaults(
        handler=_models_list)
    msub.add_parser("verify", help="check the sha256 of every installed model").set_defaults(
        handler=_models_verify)
    inst = msub.add_parser("install", help="assemble a model into models/NAME and verify it")
    inst.add_argument("name", metavar="NAME")
    inst.set_defaults(handler=_models_install)

    db = sub.add_parser("db", help="the database schema: migrations (Alembic)")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="migrate the database to the newest schema (or REVISION)")
    up.add_argument("revision", nargs="?", default="head", metavar="REVISION")
    up.set_defaults(handler=_db_upgrade)
    dsub.add_parser("current", help="the database's revision; exit 1 unless it is the newest"
                    ).set_defaults(handler=_db_current)
    rev = dsub.add_parser("revision", help="for developers: write a migration from the models' "
                          "changes against a database at the newest revision")
    rev.add_argument("-m", "--message", required=True)
    rev.set_defaults(handler=_db_revision)

    tr = sub.add_parser("transcribe", help="transcribe a recording into a caption file")
    tr.add_argument("input", metavar="INPUT", help="any audio file ffmpeg reads")
    tr.add_argument("--format", choices=["vtt", "srt", "txt", "json"], default="vtt")
    tr.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    tr.add_argument("--model", metavar="NAME", help="catalog name or model directory")
    tr.add_argument("--max-line", type=int, default=42, choices=[32, 37, 42],
                    help="characters per caption line (default 42)")
    tr.set_defaults(handler=_transcribe)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Subcommands owned by other domains (admin, index, retention), registered by them."""
    from roomscribe.accounts import commands as accounts_commands
    from roomscribe.archive import commands as archive_commands
    from roomscribe.purgers import command_purgers
    from roomscribe.retention import commands as retention_commands

    return [accounts_commands.register, archive_commands.register,
            functools.partial(retention_commands.register, purgers=command_purgers)]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except RoomscribeError as err:
        print(f"roomscribe: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

