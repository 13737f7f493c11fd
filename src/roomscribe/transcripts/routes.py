"""The transcript API: exports, the editable segment list, versions and corrections.

Host and admins only, like the recording; a room that recorded nothing is 404.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from roomscribe.accounts.tables import Account
from roomscribe.captions.formats import Format
from roomscribe.params import Cursor
from roomscribe.retention.outcomes import RETAIN_UNTIL_HEADER
from roomscribe.transcripts.schemas import (
    CorrectionCreate,
    SegmentsPublic,
    Track,
    TranscriptPublic,
)
from roomscribe.transcripts.service import Export, TranscriptService

ROOM = "/{room_id:str}/transcript"


def provide_transcripts(state: State) -> TranscriptService:
    service: TranscriptService = state.transcripts
    return service


class TranscriptController(Controller):
    path = "/api/v1/rooms"
    tags = ("transcripts",)

    @get(ROOM, operation_id="exportTranscript")
    async def export(
        self, room_id: FromPath[str], downloader: NamedDependency[Account],
        transcripts: NamedDependency[TranscriptService],
        fmt: Annotated[Format, QueryParameter(name="format")] = "vtt",
        version: Cursor = None,
        track: FromQuery[Track] = "spoken",
    ) -> Response[str]:
        """The archived transcript (or `version`) as WebVTT with voice spans, SRT, text or JSON:
        the words as spoken, or (`track=english`) the English track of a room in another
        language."""
        return _download(await transcripts.export(downloader, room_id, fmt, version, track))

    @get(ROOM + "/versions", operation_id="getTranscript")
    async def info(self, room_id: FromPath[str], caller: NamedDependency[Account],
                   transcripts: NamedDependency[TranscriptService]) -> TranscriptPublic:
        """Its stage (final pass pending or done) and every version: live, final pass, edits."""
        return await transcripts.info(caller, room_id)

    @get(ROOM + "/segments", operation_id="listTranscriptSegments")
    async def segments(self, room_id: FromPath[str], caller: NamedDependency[Account],
                       transcripts: NamedDependency[TranscriptService],
                       version: Cursor = None) -> SegmentsPublic:
        """A version's segments in time order, with the `index` corrections refer to."""
        return await transcripts.segments(caller, room_id, version)

    @post(ROOM + "/corrections", operation_id="correctTranscript")
    async def correct(self, room_id: FromPath[str], data: JSONBody[CorrectionCreate],
                      caller: NamedDependency[Account],
                      transcripts: NamedDependency[TranscriptService]) -> TranscriptPublic:
        """Edit segments of the newest version (`base`); the result is a new archived version."""
        return await transcripts.correct(caller, room_id, data)


def _download(export: Export) -> Response[str]:
    return Response(export.content, media_type=export.media_type, headers={
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        RETAIN_UNTIL_HEADER: export.retain_until.isoformat()})
