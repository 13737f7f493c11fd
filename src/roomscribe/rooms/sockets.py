"""A room's streams on the wire: speaker audio in (WebSocket), room events out (WebSocket, SSE).

Close codes are listed in `roomscribe.rooms.connection`. A refused socket is accepted and then
closed with its code and reason, because a close before accepting reaches a browser as a bare
failed handshake with neither. Each socket runs in its own task and every failure is contained in
it: a bad frame or a crashed caption stream closes that socket only, the room and other streams
carry on.

Over SSE the events are the same JSON messages (no `event:` names, so `onmessage` sees them all);
when the stream ends, a last message `{"type": "close", "code", "reason"}` says why, with the code
a WebSocket would have been closed with.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import WebSocket
from litestar.exceptions import WebSocketException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from roomscribe.accounts.security import client_address, stream_token
from roomscribe.accounts.service import AccountService
from roomscribe.accounts.tables import Account
from roomscribe.errors import NotAuthenticated, RoomscribeError, Unavailable
from roomscribe.rooms.audio import FrameChecker, Pacer, SpeakerFeed
from roomscribe.rooms.connection import INTERNAL, LEFT, SHUTDOWN, Close, Connection, close_for
from roomscribe.rooms.live_room import Attendee, LiveRoom
from roomscribe.rooms.live_rooms import LiveRooms
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.stage import StageSession

log = logging.getLogger(__name__)

_MAX_REASON_BYTES = 123
"""The WebSocket protocol's limit on a close reason."""
_CLOSE_TIMEOUT = 5.0


async def serve_audio(socket: WebSocket[Any, Any, Any], room_id: str, rooms: RoomService,
                      accounts: AccountService) -> None:
    """One speaker's audio: checked frame by frame, handed to their feed until the socket ends."""
    await socket.accept()
    try:
        speaker = await _identify(socket, accounts)
        if speaker is None:
            raise NotAuthenticated("sign in to speak: pass ?token=TOKEN or a bearer header")
        assert speaker.id is not None, "stored accounts have ids"
        conn = Connection(account_id=speaker.id, address=client_address(socket))
        live, feed = await rooms.join_audio(speaker, room_id, conn)
    except RoomscribeError as err:
        await _close(socket, close_for(err))
        return
    receiver = asyncio.create_task(
        _receive_audio(socket, conn, feed, rooms.live.pacer(speaker.id)))
    try:
        close = await conn.stopped()
    finally:
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
        rooms.live.detach_audio(live, speaker.id, conn)
        await _flush(feed)
        conn.finished.set()
    await _close(socket, close)


async def _receive_audio(socket: WebSocket[Any, Any, Any], conn: Connection,
                         feed: SpeakerFeed, pacer: Pacer) -> None:
    checker = FrameChecker()
    try:
        while True:
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                conn.stop(LEFT)
                return
            frame = message.get("bytes")
            checker.check(frame if isinstance(frame, bytes) else None)
            assert isinstance(frame, bytes)
            # Before accepting it: a frame past the pace is refused (the client is told why),
            # so reconnecting after every refusal gains nothing.
            pacer.take(frame)
            if conn.muted:
                await feed.pause()
            else:
                feed.accept(frame)
    except RoomscribeError as err:
        conn.stop(close_for(err))
    except Exception:
        log.exception("audio socket of %s in room %s failed", feed.speaker.id, feed.room)
        conn.stop(INTERNAL)


async def _flush(feed: SpeakerFeed) -> None:
    """The speaker's last words become final captions before their socket closes."""
    try:
        await feed.pause()
    except Exception:
        log.exception("flushing the captions of %s in room %s failed", feed.speaker.id, feed.room)


async def serve_captions(socket: WebSocket[Any, Any, Any], room_id: str, rooms: RoomService,
                         accounts: AccountService) -> None:
    """A listener's event stream; what the client sends is ignored, its leaving is noticed."""
    await socket.accept()
    try:
        live, who = await rooms.join_captions(await _identify(socket, accounts), room_id)
    except RoomscribeError as err:
        await _close(socket, close_for(err))
        return
    conn = Connection(account_id=who.account_id if who else None,
                      address=client_address(socket))

    def failed(err: Exception) -> None:
        if isinstance(err, (WebSocketException, OSError, RuntimeError)):
            conn.stop(LEFT)
        else:
            log.error("caption stream of a listener failed", exc_info=err)
            conn.stop(INTERNAL)

    receiver = asyncio.create_task(_await_leaving(socket, conn))
    try:
        # The room's feed sends to the socket directly; stopping `conn` detaches it and cancels
        # a send stuck on a client that stopped reading.
        try:
            await rooms.live.listen(live, conn, who, socket.send_text, failed)
        except RoomscribeError as err:  # refused at the last moment (see `LiveRooms.admit`)
            conn.stop(close_for(err))
        close = await conn.stopped()
    finally:
        conn.stop(SHUTDOWN)  # a no-op unless this task itself is being cancelled
        receiver.cancel()
        await asyncio.gather(receiver, return_exceptions=True)
    await _close(socket, close)


async def _await_leaving(socket: WebSocket[Any, Any, Any], conn: Connection) -> None:
    try:
        while (await socket.receive())["type"] != "websocket.disconnect":
            continue
    except (WebSocketException, OSError, RuntimeError):
        pass
    conn.stop(LEFT)


async def open_event_stream(rooms: RoomService, viewer: Account | None, room_id: str,
                            address: str) -> ServerSentEvent:
    """The same events over Server-Sent Events; refusals are ordinary HTTP errors."""
    live, who = await rooms.join_captions(viewer, room_id)
    conn = Connection(account_id=who.account_id if who else None, address=address)
    return ServerSentEvent(_sse_messages(rooms.live, live, who, conn))


async def _sse_messages(hub: LiveRooms, live: LiveRoom, who: Attendee | None,
                        conn: Connection) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async for data in hub.pull(live, conn, who):
            yield ServerSentEventMessage(data=data.decode())
    except RoomscribeError as err:  # refused at the last moment (see `LiveRooms.admit`)
        conn.stop(close_for(err))
    conn.stop(SHUTDOWN)
    close = await conn.stopped()
    yield ServerSentEventMessage(
        data=json.dumps({"type": "close", "code": close.code, "reason": close.reason}))


async def _identify(socket: WebSocket[Any, Any, Any],
                    accounts: AccountService) -> Account | None:
    return await asyncio.to_thread(accounts.identify, stream_token(socket))


async def _close(socket: WebSocket[Any, Any, Any], close: Close) -> None:
    if close is LEFT:
        return
    reason = close.reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
    try:
        # A client that stopped reading may never take the close frame either.
        await asyncio.wait_for(socket.close(code=close.code, reason=reason), _CLOSE_TIMEOUT)
    except (WebSocketException, OSError, RuntimeError, TimeoutError):
        log.debug("socket gone before its close %s", close.code)


async def serve_media(socket: WebSocket[Any, Any, Any], room_id: str, rooms: RoomService,
                      membership: MembershipService, accounts: AccountService) -> None:
    """A page's live audio: who it is, whether they may follow the room, then its session."""
    await socket.accept()
    media = rooms.media
    try:
        viewer = await _identify(socket, accounts)
        await rooms.join_captions(viewer, room_id)
        if media is None:
            raise Unavailable("this server runs no media server; the room has captions only")
        session = StageSession(socket, rooms, membership, media, room_id, viewer,
                               client_address(socket))
    except RoomscribeError as err:
        await _close(socket, close_for(err))
        return
    await _close(socket, await session.run())
