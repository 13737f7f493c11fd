"""The recording API: a room's mix (Opus in Ogg) for its host and admins, with range requests,
so a browser's `<audio>` can seek in it without downloading the whole file."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_206_PARTIAL_CONTENT

from roomscribe.accounts.tables import Account
from roomscribe.recordings.service import MixBody, RecordingService
from roomscribe.recordings.storage import open_storage
from roomscribe.retention.outcomes import RETAIN_UNTIL_HEADER


def provide_recordings(state: State) -> RecordingService:
    service: RecordingService = state.recordings
    return service


def provide_storage_used(state: State) -> int:
    """Bytes in recordings storage now (the retention overviews' figure). Walks the whole
    store, so only the overviews ask."""
    return open_storage(state.settings).size("")


class RecordingController(Controller):
    path = "/api/v1/rooms"
    tags = ("recordings",)

    @get("/{room_id:str}/recording", operation_id="getRecording", media_type="audio/ogg")
    async def recording(
        self, room_id: FromPath[str], downloader: NamedDependency[Account],
        recordings: NamedDependency[RecordingService],
        byte_range: Annotated[str | None, HeaderParameter(name="range")] = None,
    ) -> Stream:
        """Host and admins: the room's mix from room time 0; `Range: bytes=…` gets 206 or 416."""
        return mix_response(await recordings.open_mix(downloader, room_id, byte_range))


def mix_response(body: MixBody) -> Stream:
    """A mix (or a range of it) as HTTP: seekable, never cached, stating its retention."""
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(body.end - body.start),
               "Cache-Control": "private, no-store"}
    if body.partial:
        headers["Content-Range"] = f"bytes {body.start}-{body.end - 1}/{body.size}"
    if body.retain_until is not None:
        headers[RETAIN_UNTIL_HEADER] = body.retain_until.isoformat()
    return Stream(body.chunks, media_type=body.content_type, headers=headers,
                  status_code=HTTP_206_PARTIAL_CONTENT if body.partial else HTTP_200_OK)
