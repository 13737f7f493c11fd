"""Accounts: register, sign in and out, resolve a token, follow, make admins.

Synchronous on purpose: argon2 and SQLite both block, so HTTP handlers run these methods in a
worker thread (`sync_to_thread=True`) and async callers use `asyncio.to_thread`.
The keyword-only functions at the bottom take a session so other domains (rooms) can ask about
accounts inside their own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from roomscribe.accounts.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    SessionCreate,
    normalise_handle,
)
from roomscribe.accounts.security import new_token, token_digest, verify_password
from roomscribe.accounts.tables import CLOSED, Account, AuthToken, Follow, TokenKind
from roomscribe.config import Settings
from roomscribe.db import session_scope
from roomscribe.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Unavailable,
)
from roomscribe.ratelimit import RateLimiter
from roomscribe.timestamps import utcnow

M = TypeVar("M", bound=BaseModel)

TOKEN_TTL = timedelta(days=30)
"""How long a sign-in lasts, for API tokens and page sessions alike."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    """The only time the token exists in clear: returned once, stored as a digest."""
    expires_at: datetime
    account: Account


@dataclass(frozen=True, slots=True)
class Limits:
    """How often one client may try (see `config.Settings` for each)."""

    signin: str = "20/minute"
    signin_failures: str = "10/15 minutes"
    signup: str = "10/hour"
    concurrent_hashes: int = 4

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(signin=settings.signin_limit, signin_failures=settings.signin_failure_limit,
                   signup=settings.signup_limit,
                   concurrent_hashes=settings.max_concurrent_hashes)


HASH_WAIT = 10.0
"""Seconds a sign-in waits for a free hashing slot before it is told to come back."""


class AccountService:
    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None,
                 token_ttl: timedelta = TOKEN_TTL, limits: Limits | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self.token_ttl = token_ttl
        self.limits = limits or Limits()
        self.limiter = limiter or RateLimiter()
        # argon2 is made to be slow (and to take memory): a crowd signing in at once, or an
        # attacker, must not take every core from live captions.
        self._hashing = threading.BoundedSemaphore(self.limits.concurrent_hashes)
        # Verified against when the handle is unknown, so a wrong handle costs as much time as a
        # wrong password and response times do not reveal which handles exist.
        self._decoy_hash = self.hasher.hash(new_token())

    @contextmanager
    def _hash_slot(self) -> Iterator[None]:
        if not self._hashing.acquire(timeout=HASH_WAIT):
            raise Unavailable("the server is busy signing people in; try again in a moment",
                              retry_after=2)
        try:
            yield
        finally:
            self._hashing.release()

    def _hash(self, password: str) -> str:
        with self._hash_slot():
            return self.hasher.hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        with self._hash_slot():
            return verify_password(self.hasher, password_hash, password)

    def register(self, data: AccountCreate, *, is_admin: bool = False,
                 client: str | None = None) -> Account:
        """`client`: the address asking, whose sign-ups are limited (None: an operator)."""
        if client is not None:
            self.limiter.hit(self.limits.signup, "signup", client, what="new accounts from here")
        account = Account.model_validate(
            data, update={"password_hash": self._hash(data.password), "is_admin": is_admin})
        try:
            with session_scope(self.engine) as session:
                session.add(account)
                session.flush()
        except IntegrityError:
            raise Conflict(f"the handle {data.handle!r} is taken") from None
        return account

    def sign_in(self, data: SessionCreate, *, kind: TokenKind = TokenKind.API,
                client: str | None = None) -> IssuedToken:
        """Trade a handle and password for a token. Limited per client address (every
        attempt) and per handle (failures, from anywhere: guessing one account's password from
        many addresses)."""
        handle = normalise_handle(data.handle)
        if client is not None:
            self.limiter.hit(self.limits.signin, "signin", client, what="sign-in attempts")
        self.limiter.check(self.limits.signin_failures, "signin-failed", handle,
                           what="failed sign-ins to this account")
        with session_scope(self.engine) as session:
            account = find_account(session, handle=data.handle)
            known = account is not None
            ok = self._verify(account.password_hash if account else self._decoy_hash,
                              data.password)
            if not (known and ok):
                self.limiter.hit(self.limits.signin_failures, "signin-failed", handle,
                                 what="failed sign-ins to this account")
                raise NotAuthenticated("wrong handle or password")
            assert account is not None
            if self.hasher.check_needs_rehash(account.password_hash):
                account.password_hash = self._hash(data.password)
                session.add(account)
            assert account.id is not None
            token = new_token()
            expires_at = utcnow() + self.token_ttl
            session.add(AuthToken(account_id=account.id, digest=token_digest(token), kind=kind,
                                  expires_at=expires_at))
        return IssuedToken(token=token, expires_at=expires_at, account=account)

    def sign_out(self, token: str) -> None:
        with session_scope(self.engine) as session:
            session.exec(delete(AuthToken).where(col(AuthToken.digest) == token_digest(token)))

    def identify(self, token: str | None) -> Account | None:
        """Who a request's token (None: it carried none) belongs to; a bad token is refused."""
        if token is None:
            return None
        if not token:
            raise NotAuthenticated("malformed credentials; expected 'Authorization: Bearer TOKEN'")
        return self.resolve(token)

    def resolve(self, token: str) -> Account:
        """The account a token belongs to; NotAuthenticated when unknown or expired."""
        with session_scope(self.engine) as session:
            row = session.exec(
                select(AuthToken).where(AuthToken.digest == token_digest(token))).first()
            if row is None:
                raise NotAuthenticated("unknown token; sign in again")
            if row.expires_at <= utcnow():
                raise NotAuthenticated("token expired; sign in again")
            account = session.get(Account, row.account_id)
            if account is None:
                raise NotAuthenticated("unknown token; sign in again")
            return account

    def rename(self, account: Account, display_name: str) -> Account:
        """A new display name: what captions, rosters and transcripts show from now on."""
        checked = parse(AccountUpdate, {"display_name": display_name})
        with session_scope(self.engine) as session:
            row = _stored(session, account)
            row.display_name = checked.display_name
            session.add(row)
            return row

    def change_password(self, account: Account, *, current: str, new: str,
                        keep: str | None) -> None:
        """Replace the password (the current one proves it is them) and sign out every other
        session and API token: whoever knew the old password is out. `keep` is the token of
        the session asking, which stays signed in."""
        checked = parse(AccountCreate, {"handle": account.handle, "password": new,
                                        "display_name": account.display_name})
        with session_scope(self.engine) as session:
            row = _stored(session, account)
            if not self._verify(row.password_hash, current):
                raise Forbidden("the current password is not right")
            row.password_hash = self._hash(checked.password)
            session.add(row)
            _sign_out_all(session, row, keep=keep)

    def sign_out_everywhere(self, account: Account) -> None:
        """End every session and API token of the account, this one included."""
        with session_scope(self.engine) as session:
            _sign_out_all(session, _stored(session, account), keep=None)

    def close(self, account: Account, *, password: str) -> None:
        """Close the account: its name, handle and password are gone, it is signed out
        everywhere and follows nobody. The row stays, nameless, so rooms it hosted and words it
        spoke keep their owner until the retention policy deletes them."""
        assert account.id is not None
        with session_scope(self.engine) as session:
            row = _stored(session, account)
            if not self._verify(row.password_hash, password):
                raise Forbidden("the password is not right")
            _sign_out_all(session, row, keep=None)
            session.exec(delete(Follow).where(
                (col(Follow.follower_id) == row.id) | (col(Follow.followee_id) == row.id)))
            row.sqlmodel_update({"handle": f"closed_{row.id}", "display_name": "Closed account",
                                 "password_hash": CLOSED, "is_admin": False})
            session.add(row)

    def handles(self, ids: Iterable[int | None]) -> dict[int, str]:
        """Account ids to handles, for pages that show who did something by id."""
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        with Session(self.engine) as session:
            rows = session.exec(select(Account.id, Account.handle)
                                .where(col(Account.id).in_(wanted))).all()
        return {i: h for i, h in rows if i is not None}

    def find(self, handle: str) -> Account | None:
        with session_scope(self.engine) as session:
            return find_account(session, handle=handle)

    def get(self, handle: str) -> Account:
        with session_scope(self.engine) as session:
            return require_account(session, handle=handle)

    def profile(self, viewer: Account, handle: str) -> AccountPublic:
        account = self.get(handle)
        if account.password_hash == CLOSED:
            raise NotFound(f"no account {handle!r}")
        return public(viewer, account)

    def check_password(self, account: Account, password: str) -> None:
        """Forbidden unless `password` is the account's (before anything irreversible)."""
        with Session(self.engine) as session:
            row = _stored(session, account)
        if not self._verify(row.password_hash, password):
            raise Forbidden("the password is not right")

    def follows(self, follower: Account, handle: str) -> bool:
        with Session(self.engine) as session:
            followee = require_account(session, handle=handle)
            assert follower.id is not None and followee.id is not None
            return is_following(session, follower_id=follower.id, followee_id=followee.id)

    def follow(self, follower: Account, handle: str) -> None:
        """Idempotent: following someone already followed is not an error."""
        with session_scope(self.engine) as session:
            followee = require_account(session, handle=handle)
            if followee.id == follower.id:
                raise InvalidInput("an account cannot follow itself")
            assert follower.id is not None and followee.id is not None
            if session.get(Follow, (follower.id, followee.id)) is None:
                session.add(Follow(follower_id=follower.id, followee_id=followee.id))

    def unfollow(self, follower: Account, handle: str) -> None:
        with session_scope(self.engine) as session:
            followee = require_account(session, handle=handle)
            row = session.get(Follow, (follower.id, followee.id))
            if row is not None:
                session.delete(row)

    def following(self, account: Account) -> list[Account]:
        with session_scope(self.engine) as session:
            return list(session.exec(
                select(Account).join(Follow, col(Follow.followee_id) == col(Account.id))
                .where(Follow.follower_id == account.id).order_by(col(Account.handle))).all())

    def make_admin(self, handle: str, *, password: str | None,
                   display_name: str | None = None) -> tuple[Account, bool]:
        """Create HANDLE as an admin, or promote it when it exists. Returns (account, created).

        An existing account keeps its password unless one is given, so promoting someone never
        requires knowing theirs.
        """
        with session_scope(self.engine) as session:
            account = find_account(session, handle=handle)
            if account is not None:
                account.is_admin = True
                if password is not None:
                    checked = parse(AccountCreate, {"handle": account.handle, "password": password,
                                                    "display_name": account.display_name})
                    account.password_hash = self._hash(checked.password)
                session.add(account)
                return account, False
        if password is None:
            raise InvalidInput("a new account needs a password")
        data = parse(AccountCreate, {"handle": handle, "password": password,
                                     "display_name": display_name or handle})
        return self.register(data, is_admin=True), True


def public(viewer: Account, account: Account) -> AccountPublic:
    """`account` as `viewer` may see it: whether it is an admin is for admins and itself."""
    shown = viewer.is_admin or viewer.id == account.id
    return AccountPublic.model_validate(account, from_attributes=True,
                                        update={} if shown else {"is_admin": None})


def parse(model: type[M], data: dict[str, Any]) -> M:
    """Validate outside HTTP (the CLI), turning pydantic's error into a one-line InvalidInput."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from None


def _stored(session: Session, account: Account) -> Account:
    row = session.get(Account, account.id)
    if row is None or row.password_hash == CLOSED:
        raise NotAuthenticated("this account is closed")
    return row


def _sign_out_all(session: Session, account: Account, *, keep: str | None) -> None:
    stmt = delete(AuthToken).where(col(AuthToken.account_id) == account.id)
    if keep is not None:
        stmt = stmt.where(col(AuthToken.digest) != token_digest(keep))
    session.exec(stmt)


def find_account(session: Session, *, handle: str) -> Account | None:
    return session.exec(select(Account).where(Account.handle == normalise_handle(handle))).first()


def require_account(session: Session, *, handle: str) -> Account:
    account = find_account(session, handle=handle)
    if account is None:
        raise NotFound(f"no account {handle!r}")
    return account


def is_following(session: Session, *, follower_id: int, followee_id: int) -> bool:
    return session.get(Follow, (follower_id, followee_id)) is not None
