"""Accounts, their sign-in tokens and who follows whom.

A token is stored only as its SHA-256 digest, so a copy of the database cannot be replayed as
credentials. A fast hash is enough there (unlike passwords) because a token is 32 random bytes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from roomscribe.timestamps import UtcDateTime, utcnow


class TokenKind(StrEnum):
    API = "api"
    """Sent by API clients as `Authorization: Bearer TOKEN` (or `?token=` on streams)."""
    SESSION = "session"
    """Held by a browser in the session cookie, for pages."""


class AccountBase(SQLModel):
    handle: str = Field(max_length=30)
    """Unique, lower case: letters, digits and underscores (3–30)."""
    display_name: str = Field(max_length=50)
    """The name captions and rosters show."""


CLOSED = "!closed"
"""The password hash of a closed account: no password verifies against it."""


class Account(AccountBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(max_length=30, unique=True, index=True)
    password_hash: str
    """argon2id hash in PHC string form (carries its own parameters and salt)."""
    is_admin: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AuthToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True, ondelete="CASCADE")
    digest: str = Field(unique=True, index=True, max_length=64)
    """SHA-256 hex digest of the token; the token itself is never stored."""
    kind: TokenKind = TokenKind.API
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)


class Follow(SQLModel, table=True):
    follower_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    followee_id: int = Field(foreign_key="account.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
