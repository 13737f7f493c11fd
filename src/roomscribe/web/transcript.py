"""The host's transcript editor: each line's words and who said them, saved as a new version.

The page posts the whole form; only lines whose text or speaker changed become edits of one
correction (`TranscriptService.correct`), made on the version the page showed, so an editor who
was overtaken by someone else's correction is told to reload rather than undo it.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from pydantic import ValidationError

from roomscribe.accounts.tables import Account
from roomscribe.errors import Conflict, InvalidInput
from roomscribe.params import row_number
from roomscribe.transcripts.schemas import CorrectionCreate, SegmentEdit, SegmentsPublic
from roomscribe.transcripts.service import TranscriptService
from roomscribe.web.archive import clock
from roomscribe.web.forms import FormData, value
from roomscribe.web.responses import done, render, sentence

ROOM = "/r/{room_id:str}"


def edits(data: dict[str, Any], shown: SegmentsPublic) -> list[SegmentEdit]:
    """What the form changed, line by line, against the version it showed."""
    found = []
    for segment in shown.segments:
        text = value(data, f"text-{segment.index}").strip()
        speaker = value(data, f"speaker-{segment.index}").strip()
        changes: dict[str, str] = {}
        if text != segment.text:
            changes["text"] = text
        if speaker and speaker != segment.speaker:
            changes["speaker"] = speaker
        if changes:
            found.append(SegmentEdit.model_validate({"index": segment.index, **changes}))
    return found


class TranscriptPageController(Controller):
    path = ROOM
    include_in_schema = False

    @get("/transcript")
    async def editor(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                     page_caller: NamedDependency[Account],
                     transcripts: NamedDependency[TranscriptService]) -> Template:
        return await _page(page_caller, room_id, transcripts,
                           saved=request.query_params.get("saved") == "1")

    @post("/transcript")
    async def save(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                   data: FormData, page_caller: NamedDependency[Account],
                   transcripts: NamedDependency[TranscriptService]) -> Response[Any]:
        base = row_number(value(data, "base"))
        if base is None:
            raise InvalidInput("the form lost which version it edits; reload the page")
        shown = await transcripts.segments(page_caller, room_id, base)
        try:
            changed = edits(data, shown)
            if not changed:
                raise InvalidInput("nothing was changed; edit a line, then save")
            await transcripts.correct(page_caller, room_id,
                                      CorrectionCreate(base=base, edits=changed))
        except ValidationError:
            return await _page(page_caller, room_id, transcripts, status=400, error=(
                "A line is too long (2000 characters at most) or a speaker's name is longer "
                "than 50 characters."))
        except (InvalidInput, Conflict) as err:
            return await _page(page_caller, room_id, transcripts, status=int(err.status),
                               error=sentence(str(err)))
        return done(request, data, "The corrected transcript is saved.",
                    f"/r/{room_id}/transcript?saved=1")


async def _page(viewer: Account, room_id: str, transcripts: TranscriptService, *,
                status: int = 200, error: str = "", saved: bool = False) -> Template:
    info = await transcripts.info(viewer, room_id)
    current = await transcripts.segments(viewer, room_id)
    return render("transcript_edit.html", viewer, status=status, room_id=room_id, info=info,
                  current=current, error=error, saved=saved, clock=clock)
