"""Where credentials come from, and how secrets are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar.connection import ASGIConnection
from litestar.types import Scope

from roomscribe.accounts.security import (
    SESSION_COOKIE,
    bearer_token,
    new_token,
    session_cookie,
    stream_token,
    token_digest,
    verify_password,
)


def connection(kind: str = "http", *, query: str = "",
               **headers: str) -> ASGIConnection[Any, Any, Any, Any]:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": kind, "headers": [(b"host", b"rooms.example"), *raw],
             "query_string": query.encode(), "path": "/", "path_params": {}}
    return ASGIConnection(cast("Scope", scope))


@pytest.mark.parametrize(("header", "token"), [
    (None, None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", ""),
    ("Bearer", ""), ("Bearer   ", ""),
])
def test_bearer_header(header: str | None, token: str | None) -> None:
    headers = {} if header is None else {"authorization": header}
    assert bearer_token(connection(**headers)) == token


def test_streams_prefer_the_header_then_the_query_then_the_cookie() -> None:
    cookie = f"{SESSION_COOKIE}=from-cookie"
    assert stream_token(connection(query="token=q", authorization="Bearer h", cookie=cookie)) == "h"
    assert stream_token(connection(query="token=q", cookie=cookie)) == "q"
    assert stream_token(connection(cookie=cookie)) == "from-cookie"
    assert stream_token(connection()) is None


def test_the_cookie_counts_on_a_websocket_only_from_this_site() -> None:
    cookie = f"{SESSION_COOKIE}=c"
    assert stream_token(connection("websocket", cookie=cookie,
                                   origin="https://rooms.example")) == "c"
    assert stream_token(connection("websocket", cookie=cookie)) == "c"
    assert stream_token(connection("websocket", cookie=cookie,
                                   origin="https://evil.example")) is None
    # Over HTTP (SSE) the browser's CORS rules already keep foreign pages from reading.
    assert stream_token(connection("http", cookie=cookie, origin="https://evil.example")) == "c"


def test_tokens_are_random_and_stored_as_digests() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 43 for t in tokens)
    token = tokens.pop()
    assert token_digest(token) == token_digest(token) != token
    assert len(token_digest(token)) == 64


def test_verify_password_never_raises() -> None:
    hasher = PasswordHasher.from_parameters(CHEAPEST)
    stored = hasher.hash("right")
    assert verify_password(hasher, stored, "right")
    assert not verify_password(hasher, stored, "wrong")
    assert not verify_password(hasher, "not a hash", "right")


def test_the_session_cookie_is_http_only_and_same_site() -> None:
    cookie = session_cookie("t", datetime(2030, 1, 1, tzinfo=UTC), secure=True)
    assert (cookie.key, cookie.value, cookie.httponly, cookie.samesite, cookie.secure) == (
        SESSION_COOKIE, "t", True, "lax", True)
