"""The in-memory live room: fan-out through a real ChannelsPlugin, history, drops, ending."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Literal

import pytest
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from roomscribe.captions.events import CaptionEvent, CaptionSink, Speaker
from roomscribe.errors import Conflict, NotFound
from roomscribe.rooms.connection import (
    BLOCKED,
    ENDED,
    REPLACED,
    REVOKED,
    TOO_SLOW,
    Connection,
)
from roomscribe.rooms.live_room import LiveRoom, Voice
from roomscribe.rooms.live_rooms import LiveRooms
from roomscribe.rooms.tables import Role

BACKLOG = 8
ADA = Speaker(id="ada", name="Ada")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(clock: Clock) -> AsyncIterator[LiveRooms]:
    plugin = ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    await plugin.__aenter__()
    hub = LiveRooms(plugin, clock=clock, roster_delay=0.0, end_grace=0.05, backlog=BACKLOG)
    yield hub
    await hub.close()
    await plugin.__aexit__(None, None, None)


def live_room(hub: LiveRooms) -> LiveRoom:
    return hub.open(LiveRoom(id="r1", title="T", record=False, captions_public=False,
                             started_at=datetime.now(UTC),
                             voices={1: Voice("ada", "Ada", Role.HOST)}))


def caption(seq: int, kind: Literal["partial", "final"] = "final") -> CaptionEvent:
    return CaptionEvent(type=kind, room="r1", seq=seq, speaker=ADA, start=seq, end=seq + 1,
                        text=f"words {seq}")


async def take(events: AsyncGenerator[bytes, None], n: int) -> list[dict[str, object]]:
    return [json.loads(await asyncio.wait_for(anext(events), 2)) for _ in range(n)]


async def captions(events: AsyncGenerator[bytes, None], n: int) -> list[dict[str, object]]:
    """The next `n` caption events, past the roster updates that joining causes."""
    found: list[dict[str, object]] = []
    while len(found) < n:
        [event] = await take(events, 1)
        if event["type"] != "roster":
            found.append(event)
    return found


async def settle() -> None:
    """Let published events travel the plugin's queues to the subscribers."""
    for _ in range(10):
        await asyncio.sleep(0)


async def aged_history(hub: LiveRooms, clock: Clock) -> tuple[LiveRoom, CaptionSink]:
    """A room whose captions so far are a final 130 s old, a partial and a final 30 s old."""
    room = live_room(hub)
    sink = hub.caption_sink(room)
    await sink(caption(0))
    clock.now += 100
    await sink(caption(1, "partial"))
    await sink(caption(2))
    clock.now += 30
    return room, sink


async def test_a_joiner_gets_the_snapshot_then_finals_of_the_last_two_minutes(
        hub: LiveRooms, clock: Clock) -> None:
    room, sink = await aged_history(hub, clock)
    events = hub.pull(room, Connection(account_id=None), None)
    snapshot = await take(events, 3)
    assert [e["type"] for e in snapshot] == ["room", "roster", "pins"]
    assert [e["seq"] for e in await take(events, 1)] == [2]
    await sink(caption(3, "partial"))
    assert (await captions(events, 1))[0]["seq"] == 3
    await events.aclose()


async def test_history_is_forgotten_as_it_ages_even_without_joiners(
        hub: LiveRooms, clock: Clock) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    for seq in range(3):
        await sink(caption(seq))
        clock.now += 100
    assert [seq for _, seq, _ in room.finals] == [1, 2]


async def test_events_in_flight_while_joining_are_not_sent_twice(hub: LiveRooms) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    events = hub.pull(room, Connection(account_id=None), None)
    await sink(caption(0))  # published before the relay has even subscribed
    await take(events, 3)
    assert (await take(events, 1))[0]["seq"] == 0
    await sink(caption(1))
    # caption 0 may reach the feed too, but it already came as history.
    assert (await captions(events, 1))[0]["seq"] == 1
    await events.aclose()


async def test_a_slow_subscriber_is_dropped_and_the_others_get_everything(
        hub: LiveRooms) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    slow_conn, fast_conn = Connection(account_id=None), Connection(account_id=None)
    slow = hub.pull(room, slow_conn, None)
    fast = hub.pull(room, fast_conn, None)
    await take(slow, 3)
    await take(fast, 3)
    received: list[object] = []

    async def read_fast() -> None:
        async for data in fast:
            event = json.loads(data)
            if event["type"] != "roster":
                received.append(event["seq"])

    reader = asyncio.create_task(read_fast())
    for seq in range(BACKLOG * 3):
        await sink(caption(seq, "partial"))
        await settle()
    assert slow_conn.stopping and await slow_conn.stopped() == TOO_SLOW
    assert received == list(range(BACKLOG * 3))
    assert not fast_conn.stopping
    # The dropped listener's stream ends at once, its backlog discarded.
    assert [e async for e in slow] == []
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await fast.aclose()


async def test_ending_flushes_speakers_then_tells_and_closes_everyone(hub: LiveRooms) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    speaker = Connection(account_id=1)
    hub.attach_audio(room, 1, speaker)

    async def speaker_socket() -> None:
        assert await speaker.stopped() == ENDED
        await sink(caption(7))  # the speaker's last words, flushed on the way out
        speaker.finished.set()

    socket_task = asyncio.create_task(speaker_socket())
    listener = Connection(account_id=None)
    events = hub.pull(room, listener, None)
    await take(events, 3)
    await hub.end(room)
    assert [e["type"] for e in await captions(events, 2)] == ["final", "room"]
    assert [e async for e in events] == []
    assert await listener.stopped() == ENDED
    assert hub.get("r1") is None
    await sink(caption(8))  # too late: the room is gone, nothing is published
    await socket_task


async def test_stragglers_are_closed_after_the_grace_period(hub: LiveRooms) -> None:
    room = live_room(hub)
    straggler = Connection(account_id=None)
    room.connections.add(straggler)  # a socket stuck before it could read the ended event
    await hub.end(room)
    assert await asyncio.wait_for(straggler.stopped(), 1) == ENDED


async def test_moderation_closes_the_right_sockets(hub: LiveRooms) -> None:
    room = live_room(hub)
    old, new = Connection(account_id=1), Connection(account_id=1)
    hub.attach_audio(room, 1, old)
    hub.attach_audio(room, 1, new)
    assert await old.stopped() == REPLACED and not new.stopping
    hub.set_voice(room, 1, None)
    assert await new.stopped() == REVOKED
    mine, theirs = Connection(account_id=2), Connection(account_id=3)
    room.connections |= {mine, theirs}
    hub.kick(room, 2, BLOCKED)
    assert await mine.stopped() == BLOCKED and not theirs.stopping


async def test_mute_reaches_the_open_audio_socket(hub: LiveRooms) -> None:
    room = live_room(hub)
    conn = Connection(account_id=1)
    hub.attach_audio(room, 1, conn)
    hub.set_muted(room, 1, True)
    assert conn.muted and room.voices[1].muted
    hub.set_muted(room, 1, False)
    assert not conn.muted


async def test_pins(hub: LiveRooms) -> None:
    room = live_room(hub)
    pins = [await hub.pin(room, f"https://x.org/{i}", "") for i in range(5)]
    with pytest.raises(Conflict):
        await hub.pin(room, "https://x.org/6", "")
    await hub.unpin(room, pins[0].id)
    with pytest.raises(NotFound):
        await hub.unpin(room, pins[0].id)
    assert [p.id for p in room.pins] == [2, 3, 4, 5]
    assert [p.id for p in await hub.pins(room.id)] == [2, 3, 4, 5]
    assert room.pins_event()["pins"][0]["pinned_at"].endswith("Z")


class Socket:
    """A WebSocket's send as `LiveRooms.listen` uses it; `stall()` makes it wait forever."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        self.stalled = False
        self.errors: list[Exception] = []

    async def send(self, data: bytes) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.received.put_nowait(json.loads(data))

    async def take(self, n: int, *, rosters: bool = True) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        while len(found) < n:
            event = await asyncio.wait_for(self.received.get(), 2)
            if rosters or event["type"] != "roster":
                found.append(event)
        return found


async def listen(hub: LiveRooms, room: LiveRoom) -> tuple[Socket, Connection]:
    socket, conn = Socket(), Connection(account_id=None)
    await hub.listen(room, conn, None, socket.send, socket.errors.append)
    return socket, conn


async def test_a_websocket_listener_gets_the_snapshot_history_then_live_events(
        hub: LiveRooms, clock: Clock) -> None:
    room, sink = await aged_history(hub, clock)
    socket, conn = await listen(hub, room)
    assert [e["type"] for e in await socket.take(3)] == ["room", "roster", "pins"]
    assert [e["seq"] for e in await socket.take(1)] == [2]
    await sink(caption(3, "partial"))
    assert [e["seq"] for e in await socket.take(1, rosters=False)] == [3]
    assert room.anonymous == 1
    conn.stop(TOO_SLOW)
    assert room.outlets == {} and room.anonymous == 0


async def test_an_event_in_the_history_and_still_in_flight_is_sent_once(hub: LiveRooms) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    await listen(hub, room)  # the room's feed is subscribed from here on
    await sink(caption(0))  # remembered at once, still travelling the channel
    socket, _ = await listen(hub, room)
    await socket.take(3)
    assert [e["seq"] for e in await socket.take(1)] == [0]
    await sink(caption(1))
    assert [e["seq"] for e in await socket.take(1, rosters=False)] == [1]


async def test_a_stalled_websocket_is_dropped_and_the_others_get_everything(
        hub: LiveRooms) -> None:
    room = live_room(hub)
    sink = hub.caption_sink(room)
    slow, slow_conn = await listen(hub, room)
    fast, fast_conn = await listen(hub, room)
    await slow.take(3)
    await fast.take(3)
    await settle()
    slow.stalled = True
    for seq in range(BACKLOG * 3):
        await sink(caption(seq, "partial"))
        await settle()
    assert await asyncio.wait_for(slow_conn.stopped(), 2) == TOO_SLOW
    assert [e["seq"] for e in await fast.take(BACKLOG * 3, rosters=False)
            if e["type"] == "partial"] == list(range(BACKLOG * 3))
    assert not fast_conn.stopping and slow_conn not in room.outlets


async def test_ending_tells_websocket_listeners_and_closes_them(hub: LiveRooms) -> None:
    room = live_room(hub)
    socket, conn = await listen(hub, room)
    await socket.take(3)
    await hub.end(room)
    assert [e["type"] for e in await socket.take(1, rosters=False)] == ["room"]
    assert await asyncio.wait_for(conn.stopped(), 2) == ENDED
    assert socket.errors == [] and room.outlets == {}
