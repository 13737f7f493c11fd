"""The replay API: an ended, recorded room's transcript and audio for whoever may find it in
search (anonymous callers where the room is public). Not a download: see `replay.service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.response import Stream
from sqlmodel import SQLModel

from roomscribe.accounts.tables import Account
from roomscribe.recordings.routes import mix_response
from roomscribe.replay.service import Replay, ReplayService
from roomscribe.transcripts.schemas import Track, TrackPublic
from roomscribe.visibility import Visibility

ROOM = "/{room_id:str}/replay"
VTT = "text/vtt"


def provide_replay(state: State) -> ReplayService:
    service: ReplayService = state.replay
    return service


class ReplayLine(SQLModel):
    start: float
    """Seconds on the room clock: the position in the recording."""
    end: float
    speaker: str | None
    text: str


class ReplayPublic(SQLModel):
    room_id: str
    title: str
    visibility: Visibility
    started_at: datetime | None
    ended_at: datetime | None
    playable: bool
    """The recording can be played now (`audio_url`, in ranges)."""
    preparing: bool
    """The recording is still being mixed."""
    deleted_on: datetime | None
    """When the retention policy deleted it, once it has."""
    audio_url: str
    captions_url: str
    tracks: list[TrackPublic]
    """Caption tracks, each at `captions_url?track=…`."""
    lines: list[ReplayLine]


def replay_public(replay: Replay) -> ReplayPublic:
    base = f"/api/v1/rooms/{replay.room.id}/replay"
    return ReplayPublic(
        room_id=replay.room.id, title=replay.room.title, visibility=replay.room.visibility,
        started_at=replay.room.started_at, ended_at=replay.room.ended_at,
        playable=replay.playable, preparing=replay.preparing, deleted_on=replay.deleted_on,
        audio_url=f"{base}/audio", captions_url=f"{base}/captions.vtt",
        tracks=list(replay.tracks),
        lines=[ReplayLine(start=s.start, end=s.end, speaker=s.speaker, text=s.text)
               for s in replay.segments])


class ReplayController(Controller):
    path = "/api/v1/rooms"
    tags = ("replay",)

    @get(ROOM, operation_id="getReplay")
    async def replay(self, room_id: FromPath[str], viewer: NamedDependency[Account | None],
                     replay: NamedDependency[ReplayService]) -> ReplayPublic:
        """An ended, recorded room the caller may find in search: its transcript, and where its
        audio and captions track are."""
        return replay_public(await replay.page(viewer, room_id))

    @get(ROOM + "/audio", operation_id="getReplayAudio", media_type="audio/ogg")
    async def audio(
        self, room_id: FromPath[str], stream_viewer: NamedDependency[Account | None],
        replay: NamedDependency[ReplayService],
        byte_range: Annotated[str | None, HeaderParameter(name="range")] = None,
    ) -> Stream:
        """The recording in ranges of at most 1 MiB (206), for a player; the first range starts
        a replay in the audit log."""
        return mix_response(await replay.audio(stream_viewer, room_id, byte_range))

    @get(ROOM + "/captions.vtt", operation_id="getReplayCaptions", media_type=VTT)
    async def captions(self, room_id: FromPath[str],
                       stream_viewer: NamedDependency[Account | None],
                       replay: NamedDependency[ReplayService],
                       track: FromQuery[Track] = "spoken") -> Response[str]:
        """The transcript as a WebVTT captions track: as spoken, or (`track=english`) the
        English track of a room in another language (`tracks` lists what a room has)."""
        return captions_response(await replay.captions(stream_viewer, room_id, track))


def captions_response(vtt: str) -> Response[str]:
    return Response(vtt, media_type=VTT, headers={"Cache-Control": "private, no-store"})
