"""One page's live audio: the media socket (`/api/v1/rooms/{id}/media`) through which a browser
negotiates its WebRTC connections with the media server, and learns what happens to them.

The browser never talks to Janus's API: it sends its SDP here, and Roomscribe, having checked
who it is and what they may do (the same rules as the caption and audio sockets), passes it on.
JSON messages, each with a `type`:

    browser → server
      listen                           hear the room (a listener, or a speaker stepping down)
      answer   {sdp}                   the browser's answer to the room's offer
      speak    {stage, captions}       two SDP offers: the stage (to hear the other speakers and
                                       be heard) and the captions (the microphone, for the
                                       caption engine and the recording)
      mute     {muted}                 the speaker mutes or unmutes themselves
    server → browser
      offer    {sdp}                   the room's audio, to answer
      answers  {stage, captions}       the answers to a speaker's offers
      state    {state}                 listening | live | muted | reconnecting | unavailable
      stopped  {code, reason}          the speaker no longer speaks (4004: moved to listeners,
                                       4001: replaced by a newer connection): listen instead
      renegotiate                      the media server is back: offer (or listen) again

The socket closes with the codes of `rooms.connection` (4000 room ended, 4002 removed, 4003
blocked…).
Received audio is handled as the audio socket's is: each 20 ms frame goes to the speaker's
`SpeakerFeed` (captions, and the track in a recorded room), nothing while they are muted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from litestar import WebSocket

from roomscribe.accounts.tables import Account
from roomscribe.errors import InvalidInput, RoomscribeError
from roomscribe.rooms.audio import SpeakerFeed
from roomscribe.rooms.connection import ENDED, LEFT, Close, Connection, close_for
from roomscribe.rooms.media import RoomMedia
from roomscribe.rooms.membership import MembershipService
from roomscribe.rooms.service import RoomService

log = logging.getLogger(__name__)

TERMINAL = frozenset({4000, 4002, 4003})
"""Stopping codes after which the page may not listen either: the socket closes with them."""
MAX_SDP = 32 * 1024


class StageSession:
    """One media socket; see the module docstring."""

    def __init__(self, socket: WebSocket[Any, Any, Any], rooms: RoomService,
                 membership: MembershipService, media: RoomMedia, room_id: str,
                 viewer: Account | None, address: str) -> None:
        self.socket = socket
        self.rooms = rooms
        self.membership = membership
        self.media = media
        self.room_id = room_id
        self.viewer = viewer
        self.address = address
        self.listening: int | None = None
        self.speaking: Connection | None = None
        self.feed: SpeakerFeed | None = None
        self.done: asyncio.Future[Close] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._paused = False

    # -- messages -------------------------------------------------------------------------------

    async def run(self) -> Close:
        """Serve the socket until the page leaves or the room lets it go (a removal, a block,
        the end); the close to send."""
        live = self.rooms.live.get(self.room_id)
        if live is None:
            return ENDED
        presence = Connection(account_id=self.viewer.id if self.viewer else None,
                              address=self.address)
        try:
            self.rooms.live.attach_media(live, presence)
        except RoomscribeError as err:
            return close_for(err)
        presence.on_stop(lambda: self._spawn(self._let_go(presence)))
        unwatch = self.media.watch(self._media_changed)
        receiver = asyncio.create_task(self._receive())
        try:
            waits: set[asyncio.Future[Any]] = {receiver, self.done}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return self.done.result() if self.done.done() else LEFT
        finally:
            unwatch()
            presence.stop(LEFT)
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
            await self._stop_speaking()
            await self._stop_listening()
            for task in list(self._tasks):
                task.cancel()

    async def _receive(self) -> None:
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                self._finish(LEFT)
                return
            try:
                request = json.loads(str(message.get("text") or ""))
                if not isinstance(request, dict):
                    raise ValueError
                await self._handle(request)
            except (ValueError, KeyError, TypeError):
                await self._send({"type": "error", "detail": "not a media message"})
            except RoomscribeError as err:
                if self.viewer is None and err.status == 401:
                    self._finish(close_for(err))
                    return
                await self._send({"type": "error", "error": type(err).__name__,
                                  "detail": str(err)})

    async def _handle(self, request: dict[str, Any]) -> None:
        kind = request["type"]
        if kind == "listen":
            await self._stop_speaking()
            await self._listen()
        elif kind == "answer":
            if self.listening is None:
                raise InvalidInput("no offer to answer: send listen first")
            await self.media.answer(self.listening, _sdp(request["sdp"]))
            await self._state("listening")
        elif kind == "speak":
            await self._stop_listening()
            await self._speak(_sdp(request["stage"]), _sdp(request["captions"]))
        elif kind == "mute":
            if self.viewer is None or self.speaking is None:
                raise InvalidInput("only a speaker on the stage mutes themselves here")
            change = self.membership.mute if request["muted"] else self.membership.unmute
            await change(self.viewer, self.room_id, self.viewer.handle)
        else:
            raise ValueError(kind)

    # -- listening ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        await self._stop_listening()
        self.listening, offer = await self.media.listen(self.room_id)
        await self._send({"type": "offer", "sdp": offer})

    async def _stop_listening(self) -> None:
        handle, self.listening = self.listening, None
        if handle is not None:
            with contextlib.suppress(RoomscribeError):
                await self.media.stop_listening(self.room_id, handle)

    # -- speaking -------------------------------------------------------------------------------

    async def _speak(self, stage_offer: str, captions_offer: str) -> None:
        if self.viewer is None or self.viewer.id is None:
            raise InvalidInput("sign in to speak")
        await self._stop_speaking()
        conn = Connection(account_id=self.viewer.id, address=self.address)
        _, feed = await self.rooms.join_audio(self.viewer, self.room_id, conn)
        self.speaking, self.feed, self._paused = conn, feed, False
        try:
            stage, captions = await self.media.speak(
                self.room_id, self.viewer.id, self.viewer.display_name, stage_offer=stage_offer,
                captions_offer=captions_offer, muted=conn.muted, emit=self._frame)
        except BaseException:
            conn.stop(LEFT)
            await self._stop_speaking()
            raise
        conn.on_mute(lambda muted: self._spawn(self._muted(conn, muted)))
        conn.on_stop(lambda: self._spawn(self._stopped(conn)))
        await self._send({"type": "answers", "stage": stage, "captions": captions})
        await self._state("muted" if conn.muted else "live")

    def _frame(self, pcm: bytes) -> None:
        """20 ms of the speaker's microphone, as Janus forwarded it."""
        conn, feed = self.speaking, self.feed
        if conn is None or feed is None or conn.stopping:
            return
        if conn.muted:
            if not self._paused:
                self._paused = True
                self._spawn(feed.pause())
            return
        self._paused = False
        try:
            feed.accept(pcm)
        except RoomscribeError as err:
            conn.stop(close_for(err))
        except Exception:
            log.exception("captioning the media of %s failed", feed.speaker.id)
            conn.stop(close_for(InvalidInput("the caption stream failed")))

    async def _muted(self, conn: Connection, muted: bool) -> None:
        if conn is not self.speaking or self.viewer is None or self.viewer.id is None:
            return
        await self.media.set_muted(self.room_id, self.viewer.id, muted)
        await self._state("muted" if muted else "live")

    async def _stopped(self, conn: Connection) -> None:
        """A revoke, removal, block, the room's end, or a newer connection stopped the speaker."""
        if conn is not self.speaking:
            return
        close = await conn.stopped()
        await self._stop_speaking()
        if close.code in TERMINAL or close is ENDED:
            self._finish(close)
        else:
            await self._send({"type": "stopped", "code": close.code, "reason": close.reason})

    async def _stop_speaking(self) -> None:
        conn, feed = self.speaking, self.feed
        self.speaking = self.feed = None
        if conn is None:
            return
        conn.stop(LEFT)
        if self.viewer is not None and self.viewer.id is not None:
            with contextlib.suppress(RoomscribeError):
                await self.media.stop_speaking(self.room_id, self.viewer.id)
        live = self.rooms.live.get(self.room_id)
        if live is not None and self.viewer is not None and self.viewer.id is not None:
            self.rooms.live.detach_audio(live, self.viewer.id, conn)
        if feed is not None:
            try:
                await feed.pause()  # the speaker's last words become final captions
            except Exception:
                log.exception("flushing the captions of %s failed", feed.speaker.id)
        conn.finished.set()

    async def _let_go(self, presence: Connection) -> None:
        self._finish(await presence.stopped())

    # -- the media server -----------------------------------------------------------------------

    def _media_changed(self, up: bool) -> None:
        if up:
            self._spawn(self._send({"type": "renegotiate"}))
        else:
            # Its handles are gone with it; the speaker keeps their standing in the room, and
            # offers again when told to renegotiate.
            self.listening = None
            self._spawn(self._state("reconnecting"))

    # -- plumbing -------------------------------------------------------------------------------

    def _finish(self, close: Close) -> None:
        if not self.done.done():
            self.done.set_result(close)

    async def _state(self, state: str) -> None:
        await self._send({"type": "state", "state": state})

    async def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # a socket already gone hears nothing more
            await self.socket.send_text(json.dumps(message))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _sdp(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("v=0") or len(value) > MAX_SDP:
        raise InvalidInput("not an SDP description")
    return value
