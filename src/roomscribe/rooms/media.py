"""A live room's audio through the Janus media server: speakers hear each other, every listener
hears the room, and the caption engine hears each speaker on their own.

In Janus, each live room has

- an AudioBridge room: each speaker's *stage* connection (send and receive) joins it, and Janus
  mixes; every speaker hears the others (not themselves) with conversational latency;
- a Streaming mountpoint fed by the AudioBridge's whole mix over RTP on loopback: listeners
  watch it, so the mix is encoded once and only relayed to each listener (a second Janus can
  relay the same RTP as the audience grows);
- a VideoRoom in which each speaker's *captions* connection publishes the same microphone track
  (send only), forwarded over RTP on loopback to Roomscribe, decoded (`media.rtp`) and handed to
  the speaker's `SpeakerFeed`, exactly as frames of the PCM socket are: captions labelled by
  speaker without diarization, and each speaker's track of the recording.

Why two connections per speaker: the AudioBridge could forward per-speaker mixes ("groups"), but
Janus 1.1 allows five groups a room and a room has thirteen voices; a VideoRoom forwards each
publisher as it is. The second upload is 32 kbit/s.

When Janus goes away, everything here for it is forgotten, and each peer's socket is told to
reconnect; when it is back the peers negotiate again and the rooms are made anew as they join.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from roomscribe.errors import Unavailable
from roomscribe.media.janus import Janus, JanusError
from roomscribe.media.rtp import receive

log = logging.getLogger(__name__)

MAX_SPEAKERS = 13


@dataclass(slots=True)
class Speaking:
    """One speaker's two connections in Janus, and the receiver of their forwarded audio."""

    stage: int
    """The AudioBridge handle."""
    participant: str
    captions: int
    """The VideoRoom handle."""
    receiver: asyncio.DatagramTransport | None = None


@dataclass(slots=True)
class _Room:
    id: str
    mountpoint: str
    speakers: dict[int, Speaking] = field(default_factory=dict)
    listeners: set[int] = field(default_factory=set)


Watcher = Callable[[bool], None]
"""Told False when the media server went away, True when a new one answers."""


class RoomMedia:
    """See the module docstring. `janus` None: this server runs without live audio."""

    def __init__(self, janus: Janus | None) -> None:
        self.janus = janus
        self._rooms: dict[str, _Room] = {}
        self._control: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._watchers: set[Watcher] = set()

    @property
    def available(self) -> bool:
        return self.janus is not None and self.janus.up

    def state(self) -> str:
        if self.janus is None:
            return "off"
        return "up" if self.janus.up else "down"

    def watch(self, watcher: Watcher) -> Callable[[], None]:
        """Be told when the media server goes and comes back; returns how to stop."""
        self._watchers.add(watcher)
        return lambda: self._watchers.discard(watcher)

    async def janus_changed(self, up: bool) -> None:
        """The media server went away (everything in it is gone) or a new one answers."""
        if not up:
            for room in self._rooms.values():
                for speaking in room.speakers.values():
                    if speaking.receiver is not None:
                        speaking.receiver.close()
            self._rooms.clear()
            self._control.clear()
        for watcher in list(self._watchers):
            try:
                watcher(up)
            except Exception:
                log.exception("telling a peer about the media server failed")

    # -- rooms ----------------------------------------------------------------------------------

    def _janus(self) -> Janus:
        if self.janus is None or not self.janus.up:
            raise Unavailable("live audio is unavailable right now; captions still work",
                              retry_after=5)
        return self.janus

    async def _handle(self, plugin: str) -> int:
        if plugin not in self._control:
            self._control[plugin] = await self._janus().attach(plugin)
        return self._control[plugin]

    async def _room(self, room_id: str) -> _Room:
        lock = self._locks.setdefault(room_id, asyncio.Lock())
        async with lock:
            room = self._rooms.get(room_id)
            if room is None:
                room = self._rooms[room_id] = await self._create(room_id)
            return room

    async def _create(self, room_id: str) -> _Room:
        janus = self._janus()
        key = janus.config.admin_key
        bridge = await self._handle("audiobridge")
        stream = await self._handle("streaming")
        video = await self._handle("videoroom")
        # Leftovers of an earlier run of this room on the same Janus: made anew.
        for handle, kind in ((bridge, "room"), (video, "room"), (stream, "id")):
            with contextlib.suppress(JanusError):
                await janus.request(handle, {"request": "destroy", kind: room_id,
                                             "admin_key": key})
        await janus.request(bridge, {
            "request": "create", "room": room_id, "admin_key": key, "sampling_rate": 48000,
            "audiolevel_ext": False, "is_private": True, "default_prebuffering": 2})
        await janus.request(video, {
            "request": "create", "room": room_id, "admin_key": key, "publishers": MAX_SPEAKERS,
            "audiocodec": "opus", "videocodec": "vp8", "is_private": True,
            "audiolevel_ext": False})
        created = await janus.request(stream, {
            "request": "create", "type": "rtp", "id": room_id, "admin_key": key,
            "is_private": True, "threads": 2,
            "media": [{"type": "audio", "mid": "a", "port": 0, "pt": 100,
                                           "codec": "opus"}]})
        port = int(created["stream"]["ports"][0]["port"])
        await janus.request(bridge, {
            "request": "rtp_forward", "room": room_id, "host": "127.0.0.1", "port": port,
            "ptype": 100, "codec": "opus", "admin_key": key, "always_on": True})
        return _Room(room_id, room_id)

    async def close_room(self, room_id: str) -> None:
        """The room ended: its Janus rooms go, and every peer in them with them."""
        room = self._rooms.pop(room_id, None)
        self._locks.pop(room_id, None)
        if room is None or not self.available:
            return
        janus = self._janus()
        for speaking in room.speakers.values():
            if speaking.receiver is not None:
                speaking.receiver.close()
        for plugin, kind in (("audiobridge", "room"), ("videoroom", "room"), ("streaming", "id")):
            with contextlib.suppress(JanusError, Unavailable):
                await janus.request(await self._handle(plugin),
                                    {"request": "destroy", kind: room_id,
                                     "admin_key": janus.config.admin_key})

    # -- speakers -------------------------------------------------------------------------------

    async def speak(self, room_id: str, account_id: int, name: str, *, stage_offer: str,
                    captions_offer: str, muted: bool,
                    emit: Callable[[bytes], None]) -> tuple[str, str]:
        """Put a speaker on the room's stage; their two SDP answers. `emit` receives their
        microphone as 20 ms PCM frames, as Janus forwards it."""
        await self.stop_speaking(room_id, account_id)
        room = await self._room(room_id)
        janus = self._janus()
        participant = f"{account_id}-{secrets.token_hex(3)}"
        stage = await janus.attach("audiobridge")
        captions = await janus.attach("videoroom")
        speaking = Speaking(stage, participant, captions)
        room.speakers[account_id] = speaking
        try:
            _, stage_answer = await janus.call(stage, {
                "request": "join", "room": room_id, "id": participant, "display": name,
                "muted": muted}, {"type": "offer", "sdp": stage_offer})
            _, captions_answer = await janus.call(captions, {
                "request": "joinandconfigure", "ptype": "publisher", "room": room_id,
                "id": participant, "display": name, "audio": True, "video": False},
                {"type": "offer", "sdp": captions_offer})
            speaking.receiver, port = await receive(emit)
            await janus.request(await self._handle("videoroom"), {
                "request": "rtp_forward", "room": room_id, "publisher_id": participant,
                "host": "127.0.0.1", "admin_key": janus.config.admin_key,
                "streams": [{"mid": _audio_mid(captions_offer), "port": port}]})
        except BaseException:
            await self.stop_speaking(room_id, account_id)
            raise
        if stage_answer is None or captions_answer is None:
            await self.stop_speaking(room_id, account_id)
            raise Unavailable("the media server did not answer the offer", retry_after=5)
        return str(stage_answer["sdp"]), str(captions_answer["sdp"])

    async def set_muted(self, room_id: str, account_id: int, muted: bool) -> None:
        """Muted: nobody hears them (the room's mix, so every listener, too)."""
        room = self._rooms.get(room_id)
        speaking = room.speakers.get(account_id) if room is not None else None
        if speaking is None or not self.available:
            return
        janus = self._janus()
        with contextlib.suppress(JanusError):
            await janus.request(await self._handle("audiobridge"), {
                "request": "mute" if muted else "unmute", "room": room_id,
                "id": speaking.participant, "admin_key": janus.config.admin_key})

    async def stop_speaking(self, room_id: str, account_id: int) -> None:
        room = self._rooms.get(room_id)
        speaking = room.speakers.pop(account_id, None) if room is not None else None
        if speaking is None:
            return
        if speaking.receiver is not None:
            speaking.receiver.close()
        if self.available:
            janus = self._janus()
            for handle in (speaking.stage, speaking.captions):
                await janus.detach(handle)

    # -- listeners ------------------------------------------------------------------------------

    async def listen(self, room_id: str) -> tuple[int, str]:
        """A listener's connection to the room's mix: its handle and Janus's SDP offer."""
        room = await self._room(room_id)
        janus = self._janus()
        handle = await janus.attach("streaming")
        try:
            _, offer = await janus.call(handle, {"request": "watch", "id": room.mountpoint})
        except BaseException:
            await janus.detach(handle)
            raise
        if offer is None:
            await janus.detach(handle)
            raise Unavailable("the media server offered no audio", retry_after=5)
        room.listeners.add(handle)
        return handle, str(offer["sdp"])

    async def answer(self, handle: int, answer: str) -> None:
        await self._janus().call(handle, {"request": "start"}, {"type": "answer", "sdp": answer})

    async def stop_listening(self, room_id: str, handle: int) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            room.listeners.discard(handle)
        if self.available:
            await self._janus().detach(handle)


def _audio_mid(sdp: str) -> str:
    """The mid of the first audio m-line of an SDP: the stream to forward."""
    audio = re.search(r"^m=audio[^\n]*\n((?:(?!m=)[^\n]*\n)*)", sdp.replace("\r\n", "\n"), re.M)
    mid = re.search(r"^a=mid:(\S+)", audio.group(1), re.M) if audio else None
    return mid.group(1) if mid else "0"
