"""The scale-out profile with more than one process: three `roomscribe serve` processes on their
own ports and data folders and two ASR workers (`roomscribe worker`, the real model), sharing
one PostgreSQL database, one Redis and one S3 bucket, all started by this test, and one journey
across them (the real model, run once):

- a speaker on web process A and another on web process B are captioned for listeners on
  every process, labelled, live, each speaker's captions in order, and no two events of the
  room share a `seq` (the numbering is one Redis counter, its epoch one Redis key);
- a listener on process C, killed mid-room, reconnects to A (which relays the room to nobody
  yet, so it reads the finals it missed from the room's Redis stream) and, skipping the `seq`
  numbers it already has as the page does, ends with exactly the finals of a listener that
  never left: no gap, no duplicate;
- a listener joining B late is primed with what was said;
- moderation through A (a speaker revoked, the room ended) closes the sockets B holds;
- and, before that journey (no model involved), a room's pins, reaction limit and roster are one
  across the processes (`rooms.board`, `ratelimit` in Redis).

The web processes load no model (`ROOMSCRIBE_ASR=workers`): each speaker stream is served by one
of the workers, whose captions come back through Redis to the web process holding the speaker's
socket, which stores and publishes them. (A worker killed mid-stream is tested in
`integration/captions/test_workers.py`.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from helpers.servers import create_database, have_redis, redis
from helpers.speech import manifest, normalize, wer
from helpers.waiting import until
from integration.transcripts.live_server import Client, Heard, Server, serving
from roomscribe.config import Settings
from roomscribe.db import make_engine, migrate
from roomscribe.media.ffmpeg import decode

pytestmark = pytest.mark.model

CLIPS = {"ada": "1089-134686-0000.flac", "bob": "1320-122617-0001.flac"}


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
               "ROOMSCRIBE_S3_ENDPOINT_URL": s3_endpoint, "ROOMSCRIBE_ASR": "workers"}


@pytest.fixture(scope="module")
def asr_workers(shared: dict[str, str], tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[None]:
    """Two ASR workers, one model thread each (two cores)."""
    home = tmp_path_factory.mktemp("workers")
    env = {**os.environ, **shared, "ROOMSCRIBE_DATA_DIR": str(home),
           "ROOMSCRIBE_ASR_THREADS": "1"}
    procs = []
    for n in range(2):
        with (home / f"worker{n}.log").open("wb") as log:
            procs.append(subprocess.Popen([sys.executable, "-m", "roomscribe", "worker"],
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
    yield
    for proc in procs:
        proc.terminate()
    hung = []
    for n, proc in enumerate(procs):
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # its stacks, into its log (faulthandler)
            time.sleep(1)
            proc.kill()
            hung.append(n)
    for n in range(2):
        log = (home / f"worker{n}.log").read_text()
        assert n not in hung, f"worker {n} did not stop on SIGTERM:\n{log[-20000:]}"
        assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def web(shared: dict[str, str], asr_workers: None, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[tuple[Server, Server, Server]]:
    homes = [tmp_path_factory.mktemp(name) for name in ("web-a", "web-b", "web-c")]
    with serving(homes[0] / "data", homes[0] / "server.log", **shared) as a, \
            serving(homes[1] / "data", homes[1] / "server.log", **shared) as b, \
            serving(homes[2] / "data", homes[2] / "server.log", **shared) as c:
        yield a, b, c
    for home in homes:
        log = (home / "server.log").read_text()
        assert "Traceback" not in log, log


async def test_pins_reactions_and_the_roster_are_one_across_processes(
        web: tuple[Server, Server, Server]) -> None:
    a, b, c = web
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as on_a, \
            httpx.AsyncClient(base_url=b.url, timeout=60) as on_b, \
            httpx.AsyncClient(base_url=c.url, timeout=60) as on_c:
        side_a, side_b, side_c = Client(on_a), Client(on_b), Client(on_c)
        for handle, name in (("pia", "Pia Host"), ("lia", "Lia A"), ("lib", "Lib B"),
                             ("lic", "Lic C")):
            await side_a.account(handle, name)
        side_b.tokens = side_c.tokens = side_a.tokens
        room = (await side_a.post("/rooms", "pia", {"title": "Shared extras"}))["id"]

        def roster_counts(heard: Heard, count: int) -> bool:
            roster = heard.last("roster")
            return roster is not None and roster["listener_count"] == count

        async with side_a.listening(room, "lia") as lia, side_b.listening(room, "lib") as lib:
            async with side_c.listening(room, "lic", stay=False) as lic:
                # Every process's roster counts the listeners of all three.
                await until(lambda: all(roster_counts(h, 3) for h in (lia, lib, lic)),
                            within=15, what="a roster of three listeners on every process")
                roster = lib.last("roster")
                assert roster is not None
                assert [w["id"] for w in roster["listeners"]] == ["lia", "lib", "lic"]

                # Pinned through A: B's listener sees it, C lists it.
                pin = await side_a.post(f"/rooms/{room}/pins", "pia", {"url": "https://x.org/1"})
                await until(lambda: (lib.last("pins") or {}).get("pins"), within=10,
                            what="the pin on B")
                listed = (await side_c.get(f"/rooms/{room}/pins", "lic")).json()
                assert [p["id"] for p in listed] == [pin["id"]]
                # Pins through A and B at once never pass the limit of 5 or share an id.
                tries = await asyncio.gather(*(
                    side.http.post(f"/api/v1/rooms/{room}/pins", headers=side.auth("pia"),
                                   json={"url": f"https://x.org/{i}"})
                    for i, side in enumerate([side_a, side_b] * 4)))
                assert sorted(t.status_code for t in tries) == [201] * 4 + [409] * 4
                listed = (await side_b.get(f"/rooms/{room}/pins", "lib")).json()
                assert len({p["id"] for p in listed}) == 5

                # One reaction limit, whichever process the reactions go through.
                def react(side: Client) -> Awaitable[httpx.Response]:
                    return side.http.post(f"/api/v1/rooms/{room}/reactions",
                                          headers=side.auth("lia"), json={"emoji": "🔥"})

                for i in range(10):
                    assert (await react((side_a, side_b, side_c)[i % 3])).status_code == 204
                assert (await react(side_b)).status_code == 429
                await until(lambda: len([e for e in lic.others if e["type"] == "reaction"])
                            == 10, within=10, what="ten reactions on C")
            # Lic left C: the others count two.
            await until(lambda: roster_counts(lia, 2) and roster_counts(lib, 2), within=15,
                        what="the roster after a listener left")
        await side_a.post(f"/rooms/{room}/end", "pia")
        assert (await side_b.get(f"/rooms/{room}/pins", "pia")).json() == []


def by_seq(*heard: Heard) -> dict[int, dict[str, Any]]:
    """Finals as a page keeps them: one per `seq`, whichever socket brought it."""
    return {f["seq"]: f for h in heard for f in h.finals()}


async def test_speakers_on_two_processes_are_captioned_for_listeners_on_every_process(
        web: tuple[Server, Server, Server]) -> None:
    a, b, c = web
    clips = {who: next(clip for clip in manifest() if clip.path.name == name)
             for who, name in CLIPS.items()}
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as on_a, \
            httpx.AsyncClient(base_url=b.url, timeout=60) as on_b, \
            httpx.AsyncClient(base_url=c.url, timeout=60) as on_c:
        side_a, side_b, side_c = Client(on_a), Client(on_b), Client(on_c)
        for handle, name in (("hana", "Hana Host"), ("ada", "Ada Lovelace"),
                             ("bob", "Bob Barker"), ("lis", "Lis Tener"),
                             ("mover", "Mo Ving"), ("late", "Late Comer")):
            await side_a.account(handle, name)  # one database: accounts are everywhere
        for side in (side_b, side_c):
            side.tokens = side_a.tokens  # and so are sessions
        room = await side_a.recorded_room("hana", ["ada", "bob"], "Across processes")
        side_b.started = side_c.started = side_a.started
        last_words = {who: normalize(clip.reference).split()[-1] for who, clip in clips.items()}

        def said_all(heard: Heard) -> bool:
            finals = by_seq(heard).values()
            return all(word in normalize(" ".join(f["text"] for f in finals
                                                  if f["speaker"]["id"] == who))
                       for who, word in last_words.items())

        async with side_b.listening(room, "lis") as lis, \
                side_c.listening(room, "mover") as mo_on_c:
            speaking = [asyncio.create_task(side_a.speak(room, "ada", decode(clips["ada"].path))),
                        asyncio.create_task(side_b.speak(room, "bob", decode(clips["bob"].path)))]
            await until(lambda: mo_on_c.finals("ada") and mo_on_c.finals("bob"), within=30,
                        what="finals of both speakers on C")
            live = not any(task.done() for task in speaking)
            c.kill()  # mid-room: Mo's socket drops, and Mo reconnects to A
            await until(lambda: mo_on_c.close is not None, within=30, what="C's socket closed")
            async with side_a.listening(room, "mover") as mo_on_a:
                for spoken in await asyncio.gather(*speaking):
                    assert spoken.socket is not None
                    await spoken.socket.close()  # the speakers stop: their last words flush
                await until(lambda: said_all(lis), within=30, what="the end on B")
                await until(lambda: said_all(mo_on_a), within=30, what="the end on A")
                async with side_b.listening(room, "late") as late:
                    await until(lambda: by_seq(late).keys() >= by_seq(lis).keys(), within=10,
                                what="history on B")

            # Moderation on A reaches the sockets B holds: Bob, revoked through A, loses the
            # microphone he has open on B; the room ended through A closes Ada's on B.
            bob_on_b = await connect(side_b.url(room, "audio", "bob"))
            ada_on_b = await connect(side_b.url(room, "audio", "ada"))
            await side_a.post(f"/rooms/{room}/members/bob/revoke", "hana")
            await asyncio.wait_for(bob_on_b.wait_closed(), 10)
            await side_a.post(f"/rooms/{room}/end", "hana")
            await asyncio.wait_for(ada_on_b.wait_closed(), 30)

        # The final pass, queued by A (which ended the room), ran on a worker: the web
        # processes have no model. Its version is archived, and A re-indexed the room.
        async def settled() -> dict[str, Any] | None:
            info = (await side_b.get(f"/rooms/{room}/transcript/versions", "hana")).json()
            return info if info["stage"] == "final" else None

        info = await until(settled, within=120, what="the final pass on a worker")
        assert [v["source"] for v in info["versions"]] == ["live", "final_pass"]
        final = (await side_b.get(f"/rooms/{room}/transcript/segments", "hana",
                                  params={"version": info["current"]})).json()["segments"]
        for who in ("ada", "bob"):
            text = " ".join(s["text"] for s in final if s["speaker_id"] == who)
            assert wer([clips[who].reference], [text]) <= 0.2, ("final pass", who, text)
        # Every process's copy of the index has the room (replicated through Redis): A's,
        # which re-indexed it, and B's.
        for side in (side_a, side_b):
            async def indexed(side: Client = side) -> bool:
                found = (await side.get("/search", "hana", params={"q": "dinner"})).json()
                return room in {hit["room_id"] for hit in found["hits"]}

            await until(indexed, within=10, what="the room in a process's search")

        # Labelled, and no two events of the room share a number: the speakers' processes
        # number from one counter. Each speaker's captions arrive in order.
        events = lis.events
        assert len({e["seq"] for e in events}) == len(events), "two events shared a seq"
        for who, name in (("ada", "Ada Lovelace"), ("bob", "Bob Barker")):
            finals = lis.finals(who)
            assert {f["speaker"]["name"] for f in finals} == {name}
            seqs = [e["seq"] for e in events if e["speaker"]["id"] == who]
            assert seqs == sorted(seqs)
            text = " ".join(f["text"] for f in finals)
            assert wer([clips[who].reference], [text]) <= 0.2, (who, text)
        # Live, not at the end: both speakers' finals reached C while they were speaking.
        assert live
        # One numbering, one epoch, on every process.
        assert len({*lis.epochs, *mo_on_c.epochs, *mo_on_a.epochs, *late.epochs}) == 1
        # Mo, through C's death and a reconnect to A, has every final Lis has, nothing else.
        assert by_seq(mo_on_c, mo_on_a).keys() == by_seq(lis).keys()
        assert mo_on_a.finals("bob")[0]["seq"] <= mo_on_c.finals("bob")[-1]["seq"], \
            "A's history did not reach back to what Mo had seen"
        # The late joiner on B was primed with the room's recent captions.
        assert by_seq(late).keys() == by_seq(lis).keys()
        assert bob_on_b.close_code == 4004  # no longer a speaker
        assert ada_on_b.close_code == 4000  # room ended
