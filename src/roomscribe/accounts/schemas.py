"""What the accounts API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import StringConstraints
from sqlmodel import Field, SQLModel

from roomscribe.accounts.tables import AccountBase

Handle = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3,
                                          max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
"""3–30 letters, digits or underscores, stored lower case."""


def normalise_handle(value: str) -> str:
    """Handles compare case-insensitively: `Ada` and `ada` are one account."""
    return value.strip().lower()


DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=50)]


class AccountCreate(AccountBase):
    handle: Handle
    display_name: DisplayName
    password: str = Field(min_length=8, max_length=256)
    """8–256 characters; the cap keeps one sign-in from costing unbounded hashing time."""


class AccountUpdate(SQLModel):
    display_name: DisplayName


class AccountPublic(AccountBase):
    is_admin: bool | None = None
    """Whether it is a site admin: shown to admins and to the account itself, null to others
    (knowing who the admins are is a head start for anyone targeting them)."""
    created_at: datetime


class SessionCreate(SQLModel):
    handle: str = Field(min_length=1, max_length=30)
    password: str = Field(min_length=1, max_length=256)


class SessionPublic(SQLModel):
    token: str
    """Send as `Authorization: Bearer TOKEN`; streams also take `?token=TOKEN`."""
    expires_at: datetime
