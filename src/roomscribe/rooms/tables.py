"""A room and each account's standing in it.

`Member` holds one row per (room, account) that has any standing beyond "anonymous visitor": the
host, co-hosts, speakers, listeners with a pending request or invitation, and blocked accounts.
A listener with nothing pending needs no row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime, utcnow
from roomscribe.visibility import Visibility


class SpeakPolicy(StrEnum):
    EVERYONE = "everyone"
    """Any signed-in listener may ask to speak."""
    FOLLOWED = "followed"
    """Only people the host follows may ask to speak."""
    INVITED = "invited"
    """Only people a host or co-host invited may ask or accept."""


class RoomState(StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class EndReason(StrEnum):
    HOST = "host"
    """The host ended it."""
    CRASH = "crash"
    """The server running it was killed; the next start ended it with what had been stored."""
    TIME_LIMIT = "time_limit"
    """It ran as long as a room may (`ROOMSCRIBE_MAX_ROOM_HOURS`) and ended by itself."""


class Role(StrEnum):
    HOST = "host"
    COHOST = "cohost"
    SPEAKER = "speaker"
    LISTENER = "listener"
    BLOCKED = "blocked"


class RoomBase(SQLModel):
    title: str = Field(max_length=100)
    speak_policy: SpeakPolicy = SpeakPolicy.EVERYONE
    record: bool = False
    """Chosen before the start and fixed after it; everyone in the room sees it."""
    captions_public: bool = False
    """When on, anyone with the link may read the live captions without an account."""
    visibility: Visibility = Visibility.MEMBERS
    """Who finds a recorded room's transcript in search; the host may change it at any time."""
    language: str = Field(default="en", max_length=8)
    """What its speakers speak (a Whisper code, `roomscribe.languages`), or "detect": each
    speaker's language is detected. Chosen before the start, fixed after it."""


class Room(RoomBase, table=True):
    id: str = Field(primary_key=True, max_length=16)
    host_id: int = Field(foreign_key="account.id", index=True)
    state: RoomState = Field(default=RoomState.SCHEDULED, index=True)
    scheduled_for: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """Room time zero: caption times are seconds since this instant."""
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_reason: EndReason | None = None


class Member(SQLModel, table=True):
    room_id: str = Field(foreign_key="room.id", primary_key=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", primary_key=True, index=True,
                            ondelete="CASCADE")
    role: Role = Role.LISTENER
    muted: bool = False
    requested_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """Set while a request to speak is pending."""
    invited_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """Set while an invitation to speak is open."""
    consent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    """When this account agreed to be recorded (recorded rooms only); kept as evidence."""
    language: str | None = Field(default=None, max_length=8)
    """What this speaker speaks, set by them or a moderator in a room in another language than
    English (a correction of what was detected); None: the room's language, or detected."""


class Presence(SQLModel, table=True):
    """A signed-in account that followed a recorded room live. Plain listeners have no `Member`
    row, and the live roster forgets them when the room ends, yet they may report the room."""

    room_id: str = Field(foreign_key="room.id", primary_key=True, ondelete="CASCADE")
    account_id: int = Field(foreign_key="account.id", primary_key=True, index=True,
                            ondelete="CASCADE")
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    """The first time they joined."""
