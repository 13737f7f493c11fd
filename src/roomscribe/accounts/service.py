"""Accounts: register, sign in and out, resolve a token, follow, make admins.

Synchronous on purpose: argon2 and SQLite both block, so HTTP handlers run these methods in a
worker thread (`sync_to_thread=True`) and async callers use `asyncio.to_thread`.
The keyword-only functions at the bottom take a session so other domains (rooms) can ask about
accounts inside their own transaction.
"""

from __future__ import annotations

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
    SessionCreate,
    normalise_handle,
)
from roomscribe.accounts.security import new_token, token_digest, verify_password
from roomscribe.accounts.tables import Account, AuthToken, Follow, TokenKind, utcnow
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, InvalidInput, NotAuthenticated, NotFound

M = TypeVar("M", bound=BaseModel)

TOKEN_TTL = timedelta(days=30)
"""How long a sign-in lasts, for API tokens and page sessions alike."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    """The only time the token exists in clear: returned once, stored as a digest."""
    expires_at: datetime
    account: Account


class AccountService:
    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None,
                 token_ttl: timedelta = TOKEN_TTL) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self.token_ttl = token_ttl
        # Verified against when the handle is unknown, so a wrong handle costs as much time as a
        # wrong password and response times do not reveal which handles exist.
        self._decoy_hash = self.hasher.hash(new_token())

    def register(self, data: AccountCreate, *, is_admin: bool = False) -> Account:
        account = Account.model_validate(
            data, update={"password_hash": self.hasher.hash(data.password), "is_admin": is_admin})
        try:
            with session_scope(self.engine) as session:
                session.add(account)
                session.flush()
        except IntegrityError:
            raise Conflict(f"the handle {data.handle!r} is taken") from None
        return account

    def sign_in(self, data: SessionCreate, *, kind: TokenKind = TokenKind.API) -> IssuedToken:
        with session_scope(self.engine) as session:
            account = find_account(session, handle=data.handle)
            if account is None:
                verify_password(self.hasher, self._decoy_hash, data.password)
                raise NotAuthenticated("wrong handle or password")
            if not verify_password(self.hasher, account.password_hash, data.password):
                raise NotAuthenticated("wrong handle or password")
            if self.hasher.check_needs_rehash(account.password_hash):
                account.password_hash = self.hasher.hash(data.password)
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

    def find(self, handle: str) -> Account | None:
        with session_scope(self.engine) as session:
            return find_account(session, handle=handle)

    def get(self, handle: str) -> Account:
        with session_scope(self.engine) as session:
            return require_account(session, handle=handle)

    def profile(self, viewer: Account, handle: str) -> AccountPublic:
        return public(viewer, self.get(handle))

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
                    account.password_hash = self.hasher.hash(checked.password)
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


def find_account(session: Session, *, handle: str) -> Account | None:
    return session.exec(select(Account).where(Account.handle == normalise_handle(handle))).first()


def require_account(session: Session, *, handle: str) -> Account:
    account = find_account(session, handle=handle)
    if account is None:
        raise NotFound(f"no account {handle!r}")
    return account


def is_following(session: Session, *, follower_id: int, followee_id: int) -> bool:
    return session.get(Follow, (follower_id, followee_id)) is not None
