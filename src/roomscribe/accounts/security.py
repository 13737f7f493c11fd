"""Passwords, tokens and where a connection's credentials come from.

Passwords are hashed with argon2id (argon2-cffi); a hash made with older parameters is upgraded at
the next sign-in. Tokens are opaque random strings; only their SHA-256 digest is stored.

Where credentials are read, by kind of connection:

- API requests: `Authorization: Bearer TOKEN` only. The session cookie is deliberately not
  accepted there, so a page on another site cannot make a signed-in browser change anything (CSRF).
- Streams (caption WebSocket and SSE, audio WebSocket): the header, else `?token=` (browsers cannot
  set headers on WebSockets or EventSource), else the session cookie. On a WebSocket the cookie
  counts only when the `Origin` is this site, because browsers do not apply CORS to WebSockets and a
  foreign page could otherwise read private captions with a visitor's cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler

from roomscribe.errors import UnsupportedMediaType

SESSION_COOKIE = "roomscribe_session"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def verify_password(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_cookie(token: str, expires_at: datetime, *, secure: bool) -> Cookie:
    """The page session cookie: HttpOnly so scripts cannot read it, SameSite=Lax against CSRF."""
    return Cookie(key=SESSION_COOKIE, value=token, expires=int(expires_at.timestamp()),
                  httponly=True, samesite="lax", secure=secure, path="/")


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""  # present but malformed: the caller reports it instead of treating it as absent
    return token.strip()


def stream_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The token of a stream (see the module docstring for the order and the Origin rule)."""
    token = bearer_token(connection)
    if token is not None:
        return token
    query: str | None = connection.query_params.get("token")
    if query is not None:
        return query
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    if connection.scope["type"] == ScopeType.WEBSOCKET and not same_origin(connection):
        return None
    return cookie


def json_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard (it runs before the body is read): refuse a body that is not `application/json`,
    the one kind an HTML form on another site cannot send without a CORS preflight, which this
    site never grants. It guards the one API route that answers with the page cookie, which a
    cross-site form could otherwise use to sign a visitor in as someone else (login CSRF)."""
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the sign-in as application/json")


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Who is asking, as far as rate limits go: the peer's address (behind a reverse proxy,
    uvicorn puts the client's from `X-Forwarded-For` here, for the proxies it trusts)."""
    return connection.client.host if connection.client else "unknown"


def same_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    origin = connection.headers.get("origin")
    if origin is None:
        return True  # not a browser: nothing to protect a cookie from
    return urlsplit(origin).netloc == connection.headers.get("host", "")
