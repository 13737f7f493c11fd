"""A recorded room's pages after it ends: the downloads (its host and admins) and the report
form (anyone who was in it, and its host).

The download links point at the API (`/api/v1/rooms/{id}/recording` and `/transcript`), which
checks the retention policy again on every download; this page only says what the policy says.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from pydantic import ValidationError

from roomscribe.accounts.tables import Account
from roomscribe.captions.formats import Format
from roomscribe.errors import Conflict, Forbidden, NotFound, RoomscribeError
from roomscribe.reports.schemas import ReportReason
from roomscribe.reports.service import ReportService
from roomscribe.reports.tables import ReportCreate
from roomscribe.retention.service import RetentionService
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.tables import RoomState
from roomscribe.web.forms import FormData, value
from roomscribe.web.responses import render, sentence

ROOM = "/r/{room_id:str}"

FORMAT_NAMES: dict[Format, str] = {"vtt": "WebVTT captions (.vtt)", "srt": "SubRip captions (.srt)",
                "txt": "Plain text (.txt)", "json": "JSON with word timings (.json)"}


class RetentionPageController(Controller):
    path = ROOM
    include_in_schema = False

    @get("/downloads")
    async def downloads(self, room_id: FromPath[str], page_caller: NamedDependency[Account],
                        rooms: NamedDependency[RoomService],
                        retention: NamedDependency[RetentionService],
                        now: NamedDependency[datetime]) -> Template:
        """The host's (and admins') download page: until when, or since when it is gone."""
        room = await rooms.get(page_caller, room_id)
        if room.host != page_caller.handle and not page_caller.is_admin:
            raise Forbidden("only the host and admins may download this room's recording")
        if not room.record:
            raise NotFound("this room was not recorded")
        if room.state is not RoomState.ENDED:
            raise Conflict("the recording and transcript can be downloaded once the room ends")
        return render("downloads.html", page_caller, room=room, formats=FORMAT_NAMES,
                      kept=await asyncio.to_thread(retention.kept, room_id, now=now), now=now)

    @get("/report")
    async def report_form(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                          page_caller: NamedDependency[Account],
                          reports: NamedDependency[ReportService],
                          retention: NamedDependency[RetentionService],
                          now: NamedDependency[datetime]) -> Template:
        assert page_caller.id is not None
        await asyncio.to_thread(reports.check_reporter, room_id, page_caller.id)
        return render("report.html", page_caller, room_id=room_id, errors={}, values={},
                      kept=await asyncio.to_thread(retention.kept, room_id, now=now),
                      filed=request.query_params.get("done") == "filed")

    @post("/report")
    async def report(self, room_id: FromPath[str], data: FormData,
                     page_caller: NamedDependency[Account],
                     reports: NamedDependency[ReportService],
                     retention: NamedDependency[RetentionService],
                     now: NamedDependency[datetime]) -> Response[Any]:
        assert page_caller.id is not None
        reason = value(data, "reason")
        try:
            filing = ReportReason(reason=reason)
            await asyncio.to_thread(reports.file, ReportCreate(room_id=room_id,
                                                               reason=filing.reason),
                                    reporter_id=page_caller.id, now=now)
        except ValidationError:
            errors = {"reason": "Say what happened in the room, in up to 2000 characters."}
            status = 400
        except RoomscribeError as err:
            errors, status = {"": sentence(str(err))}, int(err.status)
        else:
            return Redirect(path=f"/r/{room_id}/report?done=filed", status_code=303)
        return render("report.html", page_caller, status=status, room_id=room_id, errors=errors,
                      values={"reason": reason}, filed=False,
                      kept=await asyncio.to_thread(retention.kept, room_id, now=now))
