"""The scale-out profile with more than one process: two `roomscribe serve` processes on their
own ports and data folders, sharing one PostgreSQL database, one Redis and one S3 bucket, all
started by this test. A speaker streams into web process A; a listener on web process B gets
A's captions, labelled, live, in order; a listener joining B late is primed with what was said.

Each web process runs its own caption engine here (the separate ASR workers of the issue are not
built yet); what crosses processes is the room's events, through Redis.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import httpx
import pytest

from helpers.servers import create_database, have_redis, redis
from helpers.speech import SPEECH_DIR, manifest, normalize, wer
from helpers.waiting import until
from integration.transcripts.live_server import Client, Server, serving
from roomscribe.config import Settings
from roomscribe.db import make_engine, migrate
from roomscribe.media.ffmpeg import decode

pytestmark = pytest.mark.model

CLIP = SPEECH_DIR / "librispeech_test_clean" / "1089-134686-0000.flac"


@pytest.fixture(scope="module")
def shared(postgres_server: str, tmp_path_factory: pytest.TempPathFactory,
           s3_endpoint: str) -> Iterator[dict[str, str]]:
    """The servers' common settings: a migrated database, Redis, a bucket."""
    if not have_redis():
        pytest.fail("redis-server is not installed: scripts/test installs it (as root)")
    import boto3

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    url = create_database(postgres_server, f"scale_out_{os.getpid()}")
    engine = make_engine(Settings(database_url=url))
    migrate(engine)  # what the operator does once: `roomscribe db upgrade`
    engine.dispose()
    bucket = f"scale-out-{os.getpid()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    with redis() as redis_url:
        yield {"ROOMSCRIBE_DATABASE_URL": url, "ROOMSCRIBE_REDIS_URL": redis_url,
               "ROOMSCRIBE_STORAGE_URL": f"s3://{bucket}/recordings",
               "ROOMSCRIBE_S3_ENDPOINT_URL": s3_endpoint}


@pytest.fixture(scope="module")
def web(shared: dict[str, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Server, Server]]:
    homes = [tmp_path_factory.mktemp(name) for name in ("web-a", "web-b")]
    with serving(homes[0] / "data", homes[0] / "server.log", **shared) as a, \
            serving(homes[1] / "data", homes[1] / "server.log", **shared) as b:
        yield a, b
    for home in homes:
        log = (home / "server.log").read_text()
        assert "Traceback" not in log, log


async def test_a_speaker_on_one_process_is_captioned_for_listeners_on_the_other(
        web: tuple[Server, Server]) -> None:
    a, b = web
    reference = next(c.reference for c in manifest() if c.path == CLIP)
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as on_a, \
            httpx.AsyncClient(base_url=b.url, timeout=60) as on_b:
        speaker_side, listener_side = Client(on_a), Client(on_b)
        for handle, name in (("hana", "Hana Host"), ("ada", "Ada Lovelace"),
                             ("lis", "Lis Tener"), ("late", "Late Comer")):
            await speaker_side.account(handle, name)  # one database: accounts are everywhere
            await listener_side.sign_in(handle)
        room = await speaker_side.recorded_room("hana", ["ada"], "Across processes")
        listener_side.started = speaker_side.started
        last_word = normalize(reference).split()[-1]
        async with listener_side.listening(room, "lis") as heard:
            speaking = asyncio.create_task(speaker_side.speak(room, "ada", decode(CLIP)))
            await until(lambda: heard.finals("ada"), within=30, what="a final on B")
            live = not speaking.done()
            spoken = await speaking
            assert spoken.socket is not None
            await spoken.socket.close()  # the speaker stops: the engine flushes the last words
            await until(lambda: last_word in normalize(
                " ".join(f["text"] for f in heard.finals("ada"))), within=30, what="the end")
            async with listener_side.listening(room, "late") as late:
                await until(lambda: late.finals("ada"), within=10, what="history on B")
        finals = heard.finals("ada")
        assert finals, "no caption crossed from process A to process B"
        assert {f["speaker"]["name"] for f in finals} == {"Ada Lovelace"}
        seqs = [f["seq"] for f in heard.events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, no duplicates
        text = " ".join(f["text"] for f in finals)
        assert wer([reference], [text]) <= 0.2, text
        # Live, not at the end: the first final reached B while A was still being spoken to.
        assert live
        # A listener joining B afterwards was primed with the room's recent captions.
        assert [f["seq"] for f in late.finals("ada")] == [f["seq"] for f in finals]
