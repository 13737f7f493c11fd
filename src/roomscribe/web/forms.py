"""The pages' forms: reading posted fields, and turning refusals into messages beside the fields.

Validation reuses the API's schemas, so a page accepts exactly what the API accepts; only the
wording is the page's own, because pydantic's messages are written for programmers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar.enums import RequestEncodingType
from litestar.params import Body
from pydantic import BaseModel, ValidationError

from roomscribe.rooms.schemas import RoomCreate, RoomUpdate

M = TypeVar("M", bound=BaseModel)

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
"""A posted form: field name to value (a list when the field was posted more than once)."""

Errors = dict[str, str]
"""Field name to the message shown beside it; the key "" holds a message for the whole form."""

MESSAGES = {
    "handle": "Use 3 to 30 letters, digits or underscores.",
    "display_name": "Enter a name of 1 to 50 characters.",
    "password": "Use at least 8 characters.",
    "title": "Enter a title of 1 to 100 characters.",
    "speak_policy": "Choose who may ask to speak.",
    "scheduled_for": "Enter the date and time the room starts.",
    "visibility": "Choose who can find and replay the recording.",
}


def value(data: dict[str, Any], name: str) -> str:
    raw = data.get(name)
    if isinstance(raw, list):
        raw = raw[-1] if raw else None
    return "" if raw is None else str(raw)


def checked(data: dict[str, Any], name: str) -> bool:
    """A checkbox posts its value (`on` unless set) when ticked and nothing otherwise."""
    return value(data, name) in {"on", "true", "1"}


def validate(model: type[M], fields: dict[str, Any],
             messages: dict[str, str] = MESSAGES) -> tuple[M | None, Errors]:
    try:
        return model.model_validate(fields), {}
    except ValidationError as err:
        errors: Errors = {}
        for problem in err.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            errors.setdefault(name, messages.get(name, str(problem["msg"])))
        return None, errors


def _room_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": value(data, "title"),
        "speak_policy": value(data, "speak_policy") or "everyone",
        "record": checked(data, "record"),
        "captions_public": checked(data, "captions_public"),
        "visibility": value(data, "visibility") or "members",
        "language": value(data, "language") or "en",
    }


def room_create(data: dict[str, Any]) -> tuple[RoomCreate | None, Errors]:
    """The new-room form: `when` is `now` or `later`; later takes a local time and a time zone."""
    fields = _room_fields(data)
    if value(data, "when") == "later":
        try:
            fields["scheduled_for"] = local_time(value(data, "scheduled_for"),
                                                 value(data, "timezone"))
        except ValueError:
            _, errors = validate(RoomCreate, fields)
            return None, {**errors, "scheduled_for": MESSAGES["scheduled_for"]}
    return validate(RoomCreate, fields)


def room_update(data: dict[str, Any], *, scheduled: bool) -> tuple[RoomUpdate | None, Errors]:
    """The room settings form: everything while the room is scheduled, then only who may
    replay it (the rest is fixed at the start)."""
    if not scheduled:
        return validate(RoomUpdate, {"visibility": value(data, "visibility") or "members"})
    fields = _room_fields(data)
    try:
        fields["scheduled_for"] = local_time(value(data, "scheduled_for"),
                                             value(data, "timezone"))
    except ValueError:
        _, errors = validate(RoomUpdate, fields)
        return None, {**errors, "scheduled_for": MESSAGES["scheduled_for"]}
    return validate(RoomUpdate, fields)


def local_time(text: str, zone: str) -> datetime:
    """A `datetime-local` value (`2025-06-01T18:30`) read in the IANA `zone` (UTC if unknown)."""
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:
        return naive
    try:
        tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return naive.replace(tzinfo=tz)
