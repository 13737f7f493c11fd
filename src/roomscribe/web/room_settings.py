"""A room's settings page (its host changes what may still change) and its calendar file.

Before the start everything may change: title, start time, who may speak, recording, public
captions and who may replay it; from the start on only who may replay it (`RoomService.update`
says so, and this page offers no more than that).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar, Event
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from roomscribe.accounts.tables import Account
from roomscribe.errors import Conflict, InvalidInput, NotFound
from roomscribe.rooms.schemas import RoomPublic
from roomscribe.rooms.service import RoomService
from roomscribe.rooms.tables import RoomState
from roomscribe.web import forms
from roomscribe.web.forms import FormData
from roomscribe.web.responses import done, render, sentence

ROOM = "/r/{room_id:str}"
CALENDAR_LENGTH = timedelta(hours=1)
"""How long a calendar entry blocks out: rooms have no planned end."""


def settings_values(room: RoomPublic) -> dict[str, Any]:
    """The form as the room is now; the start time in UTC (the page script shows local)."""
    when = room.scheduled_for.strftime("%Y-%m-%dT%H:%M") if room.scheduled_for else ""
    return {"title": room.title, "speak_policy": room.speak_policy, "record": room.record,
            "captions_public": room.captions_public, "visibility": room.visibility,
            "language": room.language,
            "scheduled_for": when, "timezone": "UTC"}


def calendar(room: RoomPublic, url: str) -> bytes:
    """An iCalendar file with one event: the room's start, its title, and the link to it."""
    assert room.scheduled_for is not None
    cal = Calendar()
    cal.add("prodid", "-//Roomscribe//rooms//EN")
    cal.add("version", "2.0")
    event = Event()
    event.add("uid", f"{room.id}@roomscribe")
    event.add("dtstamp", room.created_at)
    event.add("dtstart", room.scheduled_for)
    event.add("dtend", room.scheduled_for + CALENDAR_LENGTH)
    event.add("summary", room.title)
    event.add("url", url)
    event.add("description", f"An audio room hosted by {room.host_name}, with live captions. "
                             f"Join: {url}")
    cal.add_component(event)
    data: bytes = cal.to_ical()
    return data


class RoomSettingsController(Controller):
    path = ROOM
    include_in_schema = False

    @get("/settings")
    async def form(self, room_id: FromPath[str], page_caller: NamedDependency[Account],
                   rooms: NamedDependency[RoomService]) -> Template:
        room = await rooms.editable(page_caller, room_id)
        return render("room_settings.html", page_caller, room=room,
                      values=settings_values(room), errors={},
                      languages_missing=rooms.languages_missing)

    @post("/settings")
    async def save(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                   data: FormData, page_caller: NamedDependency[Account],
                   rooms: NamedDependency[RoomService]) -> Response[Any]:
        room = await rooms.editable(page_caller, room_id)
        change, errors = forms.room_update(data, scheduled=room.state is RoomState.SCHEDULED)
        if change is not None:
            try:
                await rooms.update(page_caller, room_id, change)
                return done(request, data, "The room's settings are saved.",
                            f"/r/{room_id}/settings?saved=1")
            except (InvalidInput, Conflict) as err:
                errors = {"": sentence(str(err).replace("scheduled_for", "the start time"))}
        return render("room_settings.html", page_caller, status=400, room=room,
                      values={**settings_values(room), **data}, errors=errors)

    @get("/calendar.ics")
    async def ics(self, request: Request[Any, Any, Any], room_id: FromPath[str],
                  page_viewer: NamedDependency[Account | None],
                  rooms: NamedDependency[RoomService]) -> Response[bytes]:
        """A scheduled room as a calendar event, for anyone who may see the room."""
        room = await rooms.get(page_viewer, room_id)
        if room.state is not RoomState.SCHEDULED or room.scheduled_for is None:
            raise NotFound("only a scheduled room has a calendar entry")
        url = str(request.base_url).rstrip("/") + f"/r/{room.id}"
        return Response(calendar(room, url), media_type="text/calendar; charset=utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="{room.id}.ics"'})


def starts_in(moment: datetime, now: datetime) -> str:
    """How long until `moment`, as people say it: "in 2 days", "in 3 hours", "in 5 minutes"."""
    seconds = max(0, int((moment - now).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"in {count} {unit}{'s' * (count != 1)}"
    return "in less than a minute"
