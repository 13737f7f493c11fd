"""Every live room of this process: publishing to their channels, fan-out to listeners, room
extras, moderation and the end.

Each live room has one channel on Litestar's ChannelsPlugin (memory backend now; Redis later is a
different backend in `app.py` plus moving the small per-room state of `live_room.py` out of the
process). Everything a listener sees travels on that channel as one JSON text message (the event
types are listed in `rooms.live_room`).

In each process a room has one subscription to its channel (its feed), which offers every event
to each listener's `Outlet` in turn: the send happens on the spot, with no queue or task per
listener unless that socket must wait (see `rooms.outlet`; this halved the CPU of a delivery at
5,000 listeners). WebSocket listeners are sent to (`listen`); Server-Sent Events listeners pull
through a one-place inbox fed by the same outlet (`pull`). A listener holds at most
SUBSCRIBER_BACKLOG unsent events; one that falls further behind is dropped (closed with 4008)
instead of silently losing captions or slowing the publisher, so one stalled phone never delays
anyone else's captions. The feed's own subscription is unbounded: it only offers, never waits,
so it keeps up whenever the event loop runs at all.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import anyio
import msgspec
from litestar.channels import ChannelsPlugin

from roomscribe.captions.events import CaptionEvent, CaptionSink
from roomscribe.config import Settings
from roomscribe.errors import Conflict, Forbidden, NotFound, RateLimited
from roomscribe.rooms.audio import Pacer
from roomscribe.rooms.board import PRESENCE_REFRESH, Audience, Board, MemoryBoard, Pin
from roomscribe.rooms.connection import (
    BLOCKED,
    ENDED,
    INTERNAL,
    LEFT,
    REMOVED,
    REPLACED,
    REVOKED,
    SHUTDOWN,
    TOO_SLOW,
    Close,
    Connection,
)
from roomscribe.rooms.live_room import HISTORY_SECONDS, ROSTER_LISTENERS, Attendee, LiveRoom, Voice
from roomscribe.rooms.outlet import Outlet, Send
from roomscribe.rooms.tables import Role, RoomState

log = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 512
"""Unsent events a listener may have queued before being dropped (tens of busy seconds)."""
ROSTER_DELAY = 0.2
"""Roster changes within this many seconds go out as one event, so a crowd joining at once costs
one roster message per listener instead of one per listener per joiner."""
ROSTER_DELAY_PER_CONNECTION = 0.0004
ROSTER_MAX_DELAY = 2.0
"""A roster reaches every connection, so its cost grows with the audience squared as people
join; the delay grows with the audience (2 s at 5,000) to keep that cost linear. Measured with
scripts/bench_fanout.py: at 5,000 listeners, 0.2 s let under 5,000 join in 300 s; 2 s, all in
about 20 s."""
END_GRACE = 2.0
"""After the room-ended event, how long listeners have to receive it before being closed."""
AUDIO_FINISH_TIMEOUT = 30.0
"""How long ending a room waits for speakers' last captions to be flushed."""
HISTORY_EVENTS = 1000
"""Room events the Redis channel keeps (partials included), read for the history of finals."""
MAX_PINS = 5


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """Connections one client may hold (see `config.Settings` for each)."""

    captions_per_account: int = 10
    captions_per_address: int = 200
    audio_per_account: int = 2
    audio_burst: float = 2.0
    """Seconds of audio a microphone socket may send ahead of real time."""

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveLimits:
        return cls(captions_per_account=settings.max_caption_connections_per_account,
                   captions_per_address=settings.max_caption_connections_per_address,
                   audio_per_account=settings.max_audio_sockets_per_account,
                   audio_burst=settings.audio_burst_seconds)


History = Callable[[str, int], Awaitable[list[bytes]]]


async def _no_history(channel: str, limit: int) -> list[bytes]:
    return []


class _Who(msgspec.Struct):
    id: str


class _Head(msgspec.Struct):
    """The fields the feed needs from an event, decoded without the rest (words, text)."""

    type: str
    seq: int | None = None
    state: str | None = None
    speaker: _Who | None = None
    lang: str | None = None
    task: str | None = None


class _Final(msgspec.Struct):
    """Just enough of a history entry to tell a recent final."""

    type: str
    seq: int | None = None
    end: float = 0.0


class _Pins(msgspec.Struct):
    pins: list[Pin]


class _VoiceMessage(msgspec.Struct):
    handle: str
    name: str
    role: str
    muted: bool = False
    language: str | None = None


class _Control(msgspec.Struct):
    """A change to a room's live state mirrored from another web process."""

    op: str
    origin: str
    account: int
    voice: _VoiceMessage | None = None
    muted: bool | None = None
    code: int | None = None


CONTROL = "control"
"""The type of mirrored changes on a room's channel; never relayed to listeners."""
_CLOSES = {close.code: close for close in (REMOVED, BLOCKED, REVOKED)}

_decode_control = msgspec.json.Decoder(_Control).decode
_decode_head = msgspec.json.Decoder(_Head).decode
_decode_pins = msgspec.json.Decoder(_Pins).decode
_decode_final = msgspec.json.Decoder(_Final).decode
_encode = msgspec.json.Encoder().encode


class LiveRooms:
    """Every live room of this process: publishes to their channels and relays to listeners.

    Runs on the event loop only; nothing here blocks or touches the database.
    """

    def __init__(self, channels: ChannelsPlugin, *, clock: Callable[[], float] = time.monotonic,
                 roster_delay: float = ROSTER_DELAY, end_grace: float = END_GRACE,
                 backlog: int = SUBSCRIBER_BACKLOG, limits: LiveLimits | None = None,
                 history: History | None = None, shared: bool = False,
                 board: Board | None = None) -> None:
        self.channels = channels
        self.shared = shared
        """Other web processes serve the same rooms (Redis): moderation is mirrored to them,
        and the roster counts every process's audience (`board`)."""
        self.board: Board = board or MemoryBoard()
        """Pins and presence, shared by every web process in the scale-out profile."""
        self.origin = secrets.token_hex(4)
        """Names this process in the control messages it mirrors."""
        self.history: History = history or _no_history
        """Reads a channel's recent events (the channels backend's `get_history`)."""
        self.limits = limits or LiveLimits()
        self._listening: Counter[int | str] = Counter()
        """Open caption connections by account id and by client address, across rooms."""
        self._pacers: dict[int, Pacer] = {}
        self.backlog = backlog
        """Unsent events a listener may have before it is dropped."""
        self.clock = clock
        self.roster_delay = roster_delay
        self.end_grace = end_grace
        self._rooms: dict[str, LiveRoom] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def get(self, room_id: str) -> LiveRoom | None:
        return self._rooms.get(room_id)

    def open(self, room: LiveRoom) -> LiveRoom:
        """Register a live room; an already registered one is kept (it holds live state)."""
        return self._rooms.setdefault(room.id, room)

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, room: LiveRoom, event: dict[str, Any]) -> None:
        if room.state is RoomState.LIVE and not self._closed:
            self.channels.publish(_encode(event), room.channel)

    def caption_sink(self, room: LiveRoom) -> CaptionSink:
        """Where a speaker's live stream delivers caption events for this room."""

        async def deliver(event: CaptionEvent) -> None:
            if room.state is not RoomState.LIVE or self._closed:
                return
            data = _encode(event.to_json())
            if event.type == "final":
                room.remember_final(self.clock(), event.seq, data)
            self.channels.publish(data, room.channel)

        return deliver

    def roster_changed(self, room: LiveRoom) -> None:
        if self._closed:
            return
        if room.roster_task is None or room.roster_task.done():
            room.roster_task = self._spawn(self._publish_roster(room))

    async def _publish_roster(self, room: LiveRoom) -> None:
        crowd = len(room.connections) * ROSTER_DELAY_PER_CONNECTION
        await asyncio.sleep(max(self.roster_delay, min(ROSTER_MAX_DELAY, crowd)))
        audience = None
        if self.shared:
            try:
                audience = Audience.merge(
                    await self.board.present(room.id, self.origin, room.presence()),
                    named=ROSTER_LISTENERS)
            except Exception:  # a roster of this process's audience, until the next one
                log.warning("sharing room %s's presence failed", room.id, exc_info=True)
        self.publish(room, room.roster_event(audience))

    async def _refresh_presence(self, room: LiveRoom) -> None:
        """Keep this process's presence in a shared room fresh (`rooms.board`): the others
        leave out a process that stops, and its listeners with it."""
        while room.state is RoomState.LIVE and not self._closed:
            await asyncio.sleep(PRESENCE_REFRESH)
            if room.connections or room.audio:
                self.roster_changed(room)

    # -- room extras ---------------------------------------------------------------------------

    def react(self, room: LiveRoom, who: Attendee, emoji: str) -> None:
        """Send a reaction (the service has counted it against the reaction limit)."""
        self.publish(room, {"type": "reaction", "room": room.id, "emoji": emoji,
                            "from": {"id": who.handle, "name": who.name}})

    async def pins(self, room_id: str) -> list[Pin]:
        return await self.board.pins(room_id)

    async def pin(self, room: LiveRoom, url: str, title: str) -> Pin:
        pin = await self.board.pin(room.id, url, title, limit=MAX_PINS)
        if pin is None:
            raise Conflict(f"at most {MAX_PINS} links may be pinned; unpin one first")
        await self._publish_pins(room)
        return pin

    async def unpin(self, room: LiveRoom, pin_id: int) -> None:
        if not await self.board.unpin(room.id, pin_id):
            raise NotFound(f"no pin {pin_id}")
        await self._publish_pins(room)

    async def _publish_pins(self, room: LiveRoom) -> None:
        # The whole list from the board: two hosts pinning at once through two processes
        # publish the same final list, whichever arrives last.
        room.pins = await self.board.pins(room.id)
        self.publish(room, room.pins_event())

    # -- roles and moderation --------------------------------------------------------------------

    def set_voice(self, room: LiveRoom, account_id: int, voice: Voice | None, *,
                  mirror: bool = True) -> None:
        """Record a role change; losing a voice also closes that account's audio socket."""
        if mirror:
            self._mirror(room, "voice", account=account_id,
                         voice=None if voice is None else _VoiceMessage(
                             voice.handle, voice.name, str(voice.role), voice.muted,
                             voice.language))
        if voice is None:
            room.voices.pop(account_id, None)
            self._stop(room.audio.get(account_id), REVOKED)
        else:
            room.voices[account_id] = voice
            self.set_muted(room, account_id, voice.muted, mirror=False)
            conn = room.audio.get(account_id)
            if conn is not None and voice.language is not None:
                conn.language = voice.language
        self.roster_changed(room)

    def set_muted(self, room: LiveRoom, account_id: int, muted: bool, *,
                  mirror: bool = True) -> None:
        if mirror:
            self._mirror(room, "muted", account=account_id, muted=muted)
        voice = room.voices.get(account_id)
        if voice is not None and voice.muted != muted:
            voice.muted = muted
            self.roster_changed(room)
        conn = room.audio.get(account_id)
        if conn is not None:
            conn.muted = muted

    def kick(self, room: LiveRoom, account_id: int, close: Close, *,
             mirror: bool = True) -> None:
        """Close every socket `account_id` holds in the room (removal, block)."""
        if mirror:
            self._mirror(room, "kick", account=account_id, code=close.code)
        room.voices.pop(account_id, None)
        if close is BLOCKED:
            room.blocked.add(account_id)
        for conn in [c for c in (*room.connections, *room.hearing)
                     if c.account_id == account_id]:
            conn.stop(close)
        self._stop(room.audio.get(account_id), close)
        self.roster_changed(room)

    def attach_media(self, room: LiveRoom, conn: Connection) -> None:
        """A page's live audio socket: admitted as a caption socket is, closed with the room."""
        self.admit(room, conn, voice=False)
        room.hearing.add(conn)
        conn.on_stop(lambda: room.hearing.discard(conn))

    def pacer(self, account_id: int) -> Pacer:
        """The account's audio pace, one across its sockets and rooms: a client that reconnects
        after being refused finds the bucket as empty as it left it."""
        now = self.clock()
        # A pacer idle long enough to have refilled is the same as a new one: forget it.
        for key in [k for k, p in self._pacers.items() if p.idle(now) > p.burst]:
            del self._pacers[key]
        return self._pacers.setdefault(account_id,
                                       Pacer(self.limits.audio_burst, clock=self.clock))

    def unblock(self, room: LiveRoom, account_id: int, *, mirror: bool = True) -> None:
        if mirror:
            self._mirror(room, "unblock", account=account_id)
        room.blocked.discard(account_id)

    # -- other web processes -----------------------------------------------------------------

    def _mirror(self, room: LiveRoom, op: str, **args: Any) -> None:
        """Tell the other web processes serving `room` of a change to its live state, through
        its channel: each applies it to its own copy (their speakers' and listeners' sockets
        are theirs to close). Listeners never see these messages."""
        if self.shared and room.state is RoomState.LIVE and not self._closed:
            self.channels.publish(_encode({"type": CONTROL, "room": room.id, "op": op,
                                           "origin": self.origin, **args}), room.channel)

    def _apply(self, room: LiveRoom, data: bytes) -> None:
        """A change another web process mirrored (see `_mirror`)."""
        message = _decode_control(data)
        if message.origin == self.origin:
            return
        account = message.account
        if message.op == "voice":
            voice = None if message.voice is None else Voice(
                message.voice.handle, message.voice.name, Role(message.voice.role),
                message.voice.muted, message.voice.language)
            self.set_voice(room, account, voice, mirror=False)
        elif message.op == "muted":
            self.set_muted(room, account, bool(message.muted), mirror=False)
        elif message.op == "kick":
            self.kick(room, account, _CLOSES.get(message.code or 0, REMOVED), mirror=False)
        elif message.op == "unblock":
            self.unblock(room, account, mirror=False)

    def admit(self, room: LiveRoom, conn: Connection, *, voice: bool) -> None:
        """Check, just before a socket is attached, what the database said when it was let in.

        The database check and the attach are apart by a thread hop (and a caption listener's
        wait for the feed), and a revoke, block or end landing in between would find no socket
        to close. Both this check and those actions run on the event loop, so the socket is
        either refused here or attached before they look for it.
        """
        if room.state is not RoomState.LIVE or self._rooms.get(room.id) is not room:
            raise Conflict(f"the room is {RoomState.ENDED if self._closed else room.state}, "
                           "not live")
        account_id = conn.account_id
        if account_id is not None and account_id in room.blocked:
            raise Forbidden("you are blocked from this room")
        if voice:
            if account_id not in room.voices:
                raise Forbidden("only the host, co-hosts and speakers may send audio")
            elsewhere = sum(1 for other in self._rooms.values()
                            if other is not room and account_id in other.audio)
            if elsewhere >= self.limits.audio_per_account:
                raise RateLimited(f"at most {self.limits.audio_per_account} microphones at once "
                                  "per account", retry_after=60)
            return
        if account_id is not None and \
                self._listening[account_id] >= self.limits.captions_per_account:
            raise RateLimited(f"at most {self.limits.captions_per_account} caption connections "
                              "at once per account", retry_after=60)
        if conn.address is not None and \
                self._listening[conn.address] >= self.limits.captions_per_address:
            raise RateLimited(f"at most {self.limits.captions_per_address} caption connections "
                              "at once from one address", retry_after=60)

    @staticmethod
    def _stop(conn: Connection | None, close: Close) -> None:
        if conn is not None:
            conn.stop(close)

    # -- connections ---------------------------------------------------------------------------

    def attach_audio(self, room: LiveRoom, account_id: int, conn: Connection) -> None:
        """One audio socket per speaker: a newer one replaces the older (a reconnecting phone).
        Refused (`admit`) unless the account still holds a voice in the live room."""
        self.admit(room, conn, voice=True)
        self._stop(room.audio.get(account_id), REPLACED)
        voice = room.voices.get(account_id)
        conn.muted = voice.muted if voice is not None else False
        room.audio[account_id] = conn
        if self.shared and room.feed is None:
            # Mirrored changes (a mute, a removal) arrive through the room's feed: a process
            # serving only this speaker needs one too.
            self._spawn(self._feed_ready(room))
        self.roster_changed(room)

    def detach_audio(self, room: LiveRoom, account_id: int, conn: Connection) -> None:
        if room.audio.get(account_id) is conn:
            del room.audio[account_id]
            self.roster_changed(room)

    async def listen(self, room: LiveRoom, conn: Connection, who: Attendee | None, send: Send,
                     on_error: Callable[[Exception], None]) -> None:
        """Send `room`'s events to one listener through `send` until `conn` stops: the joining
        snapshot first, then whatever the room's feed receives (see `rooms.outlet`). Returns once
        the listener is attached.
        """
        await self._feed_ready(room)
        self.admit(room, conn, voice=False)
        outlet = Outlet(send, limit=self.backlog, on_last=lambda: conn.stop(ENDED),
                        on_error=on_error, on_overflow=lambda: conn.stop(TOO_SLOW))
        # From here to the end nothing awaits: no event falls between the history and the feed.
        self._join(room, conn, who)
        history = room.recent_finals(self.clock())
        roster = room.roster if self.shared and room.roster else _encode(room.roster_event())
        outlet.prime([_encode(room.room_event()), roster,
                      _encode(room.pins_event()), *(data for _, data in history)])
        room.outlets[conn] = (outlet, history[-1][0] if history else -1)

        def detach() -> None:
            outlet.close()
            if room.outlets.pop(conn, None) is not None:
                self._leave(room, conn, who)

        conn.on_stop(detach)

    async def pull(self, room: LiveRoom, conn: Connection,
                   who: Attendee | None) -> AsyncGenerator[bytes, None]:
        """The same events for a client that pulls them (Server-Sent Events), until `conn` stops.

        The outlet's sends go into a one-place inbox, so a client that stops pulling makes the
        outlet wait and fill its backlog as a stalled socket does, and is dropped the same way.
        A listener dropped or removed gets nothing more; one whose room ended gets everything up
        to the ended event.
        """
        inbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)

        def failed(err: Exception) -> None:
            conn.stop(INTERNAL)

        await self.listen(room, conn, who, inbox.put, failed)
        stopped = asyncio.ensure_future(conn.stopped())
        try:
            while not stopped.done():
                taking = asyncio.ensure_future(inbox.get())
                await asyncio.wait((taking, stopped), return_when=asyncio.FIRST_COMPLETED)
                if taking.done():
                    yield taking.result()
                else:
                    taking.cancel()
            if stopped.result() is ENDED:
                while not inbox.empty():
                    yield inbox.get_nowait()
        finally:
            stopped.cancel()
            conn.stop(LEFT)  # a no-op unless the client went away: detaches it

    async def _feed_ready(self, room: LiveRoom) -> None:
        if room.feed is None:
            room.feed = asyncio.get_running_loop().create_future()
            self._spawn(self._feed(room, room.feed))
        await asyncio.shield(room.feed)

    async def _feed(self, room: LiveRoom, ready: asyncio.Future[None]) -> None:
        """The room's one subscription in this process, offering each event to every outlet."""
        try:
            subscriber = await self.channels.subscribe(room.channel)
        except Exception as err:
            ready.set_exception(err)
            room.feed = None
            raise
        try:
            await self._remember_history(room)
            await self._remember_pins(room)
        finally:
            ready.set_result(None)
        if self.shared:
            self._spawn(self._refresh_presence(room))
        try:
            async for data in subscriber.iter_events():
                head = _decode_head(data)
                if head.type == CONTROL:
                    self._apply(room, data)
                    continue
                if head.type == "pins":  # pinned through any process
                    room.pins = _decode_pins(data).pins
                elif head.type == "roster":
                    room.roster = data
                caption = head.type in ("partial", "final")
                if caption and head.task == "transcribe" and head.speaker and head.lang:
                    # Shown in the next roster (the host console's refresh), not published
                    # for itself: detection settles once per speaker.
                    room.heard[head.speaker.id] = head.lang
                if head.type == "final":
                    # Spoken into another web process (through Redis): this process's joiners
                    # are primed with it too. Finals spoken here were remembered as published.
                    room.remember_final(self.clock(), head.seq or 0, data)
                last = head.type == "room" and head.state == RoomState.ENDED
                for outlet, seen in list(room.outlets.values()):
                    if not (caption and (head.seq or 0) <= seen):
                        outlet.offer(data, last=last)
                if last:
                    if room.state is RoomState.LIVE:  # ended through another process
                        self._spawn(self.end(room, announce=False))
                    return
        finally:
            with anyio.CancelScope(shield=True):
                await self.channels.unsubscribe(subscriber, room.channel)

    async def _remember_history(self, room: LiveRoom) -> None:
        """A room this process starts relaying late (its listeners arrived after others were
        captioned through other processes, or after this process restarted): the finals of
        the last two minutes from the channel's history, so joiners here are primed too."""
        try:
            history = await self.history(room.channel, HISTORY_EVENTS)
        except Exception:  # joiners miss history, not captions
            log.warning("reading room %s's history failed", room.id, exc_info=True)
            return
        now, room_now = self.clock(), room.room_time()
        for data in history:
            final = _decode_final(data)
            if final.type == "final" and final.seq is not None:
                age = max(0.0, room_now - final.end)
                if age < HISTORY_SECONDS:
                    room.remember_final(now - age, final.seq, data)

    async def _remember_pins(self, room: LiveRoom) -> None:
        try:
            room.pins = await self.board.pins(room.id)
        except Exception:  # joiners miss the pins until the next change, not captions
            log.warning("reading room %s's pins failed", room.id, exc_info=True)

    def _join(self, room: LiveRoom, conn: Connection, who: Attendee | None) -> None:
        room.connections.add(conn)
        self._count(conn, 1)
        if who is None:
            room.anonymous += 1
        else:
            _, count = room.present.get(who.account_id, (who, 0))
            room.present[who.account_id] = (who, count + 1)
        self.roster_changed(room)

    def _count(self, conn: Connection, step: int) -> None:
        for key in (conn.account_id, conn.address):
            if key is not None:
                self._listening[key] += step
                if self._listening[key] <= 0:
                    del self._listening[key]

    def _leave(self, room: LiveRoom, conn: Connection, who: Attendee | None) -> None:
        if conn in room.connections:
            self._count(conn, -1)
        room.connections.discard(conn)
        if who is None:
            room.anonymous -= 1
        else:
            _, count = room.present[who.account_id]
            if count > 1:
                room.present[who.account_id] = (who, count - 1)
            else:
                del room.present[who.account_id]
        self.roster_changed(room)

    # -- ending ---------------------------------------------------------------------------------

    async def end(self, room: LiveRoom, *, announce: bool = True) -> None:
        """End the room: flush every speaker's last captions, tell everyone, close every socket.
        Without `announce`, another web process ended it and told everyone already."""
        speakers = list(room.audio.values())
        for conn in speakers:
            conn.stop(ENDED)
        await _wait_all((c.finished.wait() for c in speakers), within=AUDIO_FINISH_TIMEOUT)
        if announce:
            self.publish(room, {**room.room_event(), "state": str(RoomState.ENDED)})
        room.state = RoomState.ENDED
        if announce:
            try:
                await self.board.forget(room.id)
            except Exception:  # the keys expire on their own
                log.warning("forgetting room %s's board failed", room.id, exc_info=True)
        self._rooms.pop(room.id, None)
        for conn in list(room.hearing):
            conn.stop(ENDED)
        self._spawn(self._reap(room))

    async def _reap(self, room: LiveRoom) -> None:
        """Close listeners that have not acted on the room-ended event (stalled sends)."""
        await asyncio.sleep(self.end_grace)
        for conn in list(room.connections):
            conn.stop(ENDED)

    async def close(self) -> None:
        """App shutdown: every socket is told the server is going away; nothing more is sent."""
        self._closed = True
        for room in list(self._rooms.values()):
            for conn in [*room.connections, *room.audio.values(), *room.hearing]:
                conn.stop(SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        await _wait_all(self._tasks, within=5.0)
        await self.board.close()

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


async def _wait_all(aws: Iterable[Any], *, within: float) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        task.cancel()
