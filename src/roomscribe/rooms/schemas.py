"""What the rooms API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, StringConstraints
from sqlmodel import Field, SQLModel

from roomscribe import languages
from roomscribe.errors import InvalidInput
from roomscribe.rooms.tables import EndReason, Role, RoomBase, RoomState, SpeakPolicy
from roomscribe.visibility import Visibility

Emoji = Literal["👏", "😂", "❤️", "💯", "🔥", "😮"]
"""The six reactions: applause, laughter, love, agreement, excitement, surprise."""


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _language(code: str) -> str:
    try:
        return languages.check(code)
    except InvalidInput as err:
        raise ValueError(str(err)) from None


LanguageCode = Annotated[str, AfterValidator(_language)]
"""A Whisper language code ("en", "es", "zh", …) or "detect"."""


class RoomCreate(RoomBase):
    title: Title
    language: LanguageCode = "en"
    scheduled_for: AwareDatetime | None = None
    """When to start (with a time zone), at most 14 days ahead; omit to go live at once."""


class RoomUpdate(SQLModel):
    """Changes to a scheduled room; everything but `visibility` is fixed once it starts."""

    title: Title | None = None
    speak_policy: SpeakPolicy | None = None
    record: bool | None = None
    captions_public: bool | None = None
    scheduled_for: AwareDatetime | None = None
    visibility: Visibility | None = None
    language: LanguageCode | None = None


class RoomPublic(RoomBase):
    id: str
    host: str
    """The host's handle."""
    host_name: str
    state: RoomState
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    ended_reason: EndReason | None
    retain_until: datetime | None = None
    """Recorded rooms, for their host and admins: until when the recording and transcript may be
    downloaded (a report moves it later). Hidden from others, since it would reveal a report."""
    purged_at: datetime | None = None
    """When the retention policy deleted the recording and transcript."""


class MemberPublic(SQLModel):
    handle: str
    display_name: str
    role: Role
    muted: bool
    requested_at: datetime | None
    """Set while a request to speak waits for a host or co-host."""
    invited_at: datetime | None
    """Set while an invitation to speak is open."""
    consent_at: datetime | None
    """When they agreed to be recorded, in a recorded room."""
    language: str | None = None
    """The language they speak, when they or a moderator set it (else the room's, or
    detected)."""


class SpeakerLanguage(SQLModel):
    language: LanguageCode
    """What the speaker speaks: a Whisper code ("es", "de", …). Captions hear it from now on,
    without restarting their stream."""


class SpeakRequestCreate(SQLModel):
    consent: bool = False
    """Required true in a recorded room: agreeing to be recorded while speaking."""


class InvitationCreate(SQLModel):
    handle: str = Field(min_length=1, max_length=30)


class InvitationAccept(SQLModel):
    consent: bool = False
    """Required true in a recorded room: agreeing to be recorded while speaking."""


class RoleChange(SQLModel):
    role: Literal[Role.COHOST, Role.SPEAKER, Role.LISTENER]
    """`cohost` promotes a speaker, `speaker` demotes a co-host, `listener` revokes either."""


class ReactionCreate(SQLModel):
    emoji: Emoji


class PinCreate(SQLModel):
    url: Annotated[str, StringConstraints(min_length=8, max_length=2048,
                                          pattern=r"^https?://[^\s/]+\S*$")]
    """An http(s) link; other schemes (javascript:, data:) are refused."""
    title: str = Field(default="", max_length=100)


class PinPublic(SQLModel):
    id: int
    url: str
    title: str
    pinned_at: datetime
