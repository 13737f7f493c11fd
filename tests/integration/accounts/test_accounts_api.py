"""Accounts through the API: registering, signing in and out, tokens, the page cookie, follows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from roomscribe.accounts.security import token_digest
from roomscribe.accounts.tables import Account, AuthToken
from roomscribe.app import create_app
from roomscribe.config import Settings
from roomscribe.db import session_scope

Client = TestClient[Litestar]


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    app = create_app(settings, password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    with TestClient(app) as client:
        yield client


def register(client: Client, handle: str = "ada", password: str = "correct horse") -> str:
    created = client.post("/api/v1/accounts", json={
        "handle": handle, "display_name": handle.title(), "password": password})
    assert created.status_code == 201, created.text
    session = client.post("/api/v1/sessions", json={"handle": handle, "password": password})
    assert session.status_code == 201, session.text
    return str(session.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_then_sign_in_then_use_the_token(client: Client) -> None:
    created = client.post("/api/v1/accounts", json={
        "handle": "Ada_L", "display_name": "  Ada Lovelace ", "password": "correct horse"})
    assert created.status_code == 201
    body = created.json()
    assert (body["handle"], body["display_name"], body["is_admin"]) == (
        "ada_l", "Ada Lovelace", False)
    assert "password" not in str(body) and "hash" not in str(body)
    session = client.post("/api/v1/sessions", json={"handle": "ADA_L", "password": "correct horse"})
    assert session.status_code == 201
    expires = datetime.fromisoformat(session.json()["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    me = client.get("/api/v1/accounts/me", headers=bearer(session.json()["token"]))
    assert me.json()["handle"] == "ada_l"


def test_secrets_are_stored_hashed(client: Client) -> None:
    token = register(client, "ada", "correct horse")
    with session_scope(client.app.state.engine) as session:
        account = session.exec(select(Account)).one()
        stored = session.exec(select(AuthToken)).one()
    assert account.password_hash.startswith("$argon2id$")
    assert "correct horse" not in account.password_hash
    assert stored.digest == token_digest(token) and token not in stored.digest


def test_handles_are_unique_regardless_of_case(client: Client) -> None:
    register(client, "ada")
    again = client.post("/api/v1/accounts", json={
        "handle": "ADA", "display_name": "Other", "password": "something else"})
    assert again.status_code == 409
    assert again.json()["detail"] == "the handle 'ada' is taken"


@pytest.mark.parametrize("body", [
    {"handle": "ab", "display_name": "A", "password": "long enough"},
    {"handle": "has space", "display_name": "A", "password": "long enough"},
    {"handle": "x" * 31, "display_name": "A", "password": "long enough"},
    {"handle": "ada", "display_name": "  ", "password": "long enough"},
    {"handle": "ada", "display_name": "A", "password": "short"},
    {"handle": "ada", "display_name": "A", "password": "x" * 257},
    {"handle": "ada", "display_name": "A"},
])
def test_bad_registrations_are_refused(client: Client, body: dict[str, str]) -> None:
    assert client.post("/api/v1/accounts", json=body).status_code == 400


@pytest.mark.parametrize(("handle", "password"), [("ada", "wrong password"), ("nobody", "x")])
def test_a_failed_sign_in_does_not_say_which_part_was_wrong(client: Client, handle: str,
                                                            password: str) -> None:
    register(client, "ada")
    response = client.post("/api/v1/sessions", json={"handle": handle, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong handle or password"


@pytest.mark.parametrize(("headers", "detail"), [
    ({}, "sign in first: send 'Authorization: Bearer TOKEN'"),
    ({"Authorization": "Basic YWRhOng="},
     "malformed credentials; expected 'Authorization: Bearer TOKEN'"),
    ({"Authorization": "Bearer "}, "malformed credentials; expected 'Authorization: Bearer TOKEN'"),
    ({"Authorization": "Bearer not-a-token"}, "unknown token; sign in again"),
])
def test_requests_without_valid_credentials_are_401(client: Client, headers: dict[str, str],
                                                    detail: str) -> None:
    response = client.get("/api/v1/accounts/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == detail


def test_an_expired_token_is_refused(client: Client) -> None:
    token = register(client)
    with session_scope(client.app.state.engine) as session:
        row = session.exec(select(AuthToken)).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(row)
    response = client.get("/api/v1/accounts/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired; sign in again"


def test_signing_out_revokes_the_token(client: Client) -> None:
    token = register(client)
    assert client.delete("/api/v1/sessions/current", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/accounts/me", headers=bearer(token)).status_code == 401


def test_the_page_cookie_is_http_only_and_not_accepted_by_the_api(client: Client) -> None:
    register(client)
    response = client.post("/api/v1/sessions/cookie",
                           json={"handle": "ada", "password": "correct horse"})
    assert response.status_code == 204
    set_cookie = response.headers["set-cookie"].lower()
    assert "roomscribe_session=" in set_cookie
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    # The API takes bearer tokens only, so a cross-site form cannot act with the cookie (CSRF).
    assert client.get("/api/v1/accounts/me").status_code == 401
    out = client.delete("/api/v1/sessions/cookie")
    assert out.status_code == 204
    assert 'roomscribe_session=""' in out.headers["set-cookie"]


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/plain", '{"handle": "ada", "password": "correct horse"}'),
    ("application/x-www-form-urlencoded", "handle=ada&password=correct+horse"),
    (None, '{"handle": "ada", "password": "correct horse"}'),
])
def test_the_page_cookie_is_not_set_from_a_body_a_cross_site_form_can_send(
        client: Client, content_type: str | None, body: str) -> None:
    register(client)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/v1/sessions/cookie", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert "set-cookie" not in response.headers


def test_only_admins_and_the_account_itself_see_who_is_an_admin(client: Client) -> None:
    ada = register(client, "ada")
    register(client, "root")
    client.app.state.accounts.make_admin("root", password=None)
    root = client.post("/api/v1/sessions", json={"handle": "root", "password": "correct horse"}
                       ).json()["token"]
    assert client.get("/api/v1/accounts/root", headers=bearer(ada)).json()["is_admin"] is None
    assert client.put("/api/v1/accounts/me/following/root", headers=bearer(ada)
                      ).status_code == 204
    [followed] = client.get("/api/v1/accounts/me/following", headers=bearer(ada)).json()
    assert followed["is_admin"] is None
    assert client.get("/api/v1/accounts/root", headers=bearer(root)).json()["is_admin"] is True
    assert client.get("/api/v1/accounts/ada", headers=bearer(root)).json()["is_admin"] is False
    assert client.get("/api/v1/accounts/me", headers=bearer(ada)).json()["is_admin"] is False


def test_following(client: Client) -> None:
    ada = register(client, "ada")
    register(client, "bob")
    register(client, "cyd")
    for handle in ("bob", "cyd", "bob"):
        assert client.put(f"/api/v1/accounts/me/following/{handle}",
                          headers=bearer(ada)).status_code == 204
    following = client.get("/api/v1/accounts/me/following", headers=bearer(ada)).json()
    assert [a["handle"] for a in following] == ["bob", "cyd"]
    assert client.delete("/api/v1/accounts/me/following/bob",
                         headers=bearer(ada)).status_code == 204
    following = client.get("/api/v1/accounts/me/following", headers=bearer(ada)).json()
    assert [a["handle"] for a in following] == ["cyd"]
    self_follow = client.put("/api/v1/accounts/me/following/ada", headers=bearer(ada))
    assert self_follow.status_code == 400
    assert client.put("/api/v1/accounts/me/following/ghost",
                      headers=bearer(ada)).status_code == 404
    assert client.put("/api/v1/accounts/me/following/bob").status_code == 401


def test_account_profiles_need_an_account(client: Client) -> None:
    ada = register(client, "ada")
    assert client.get("/api/v1/accounts/ada").status_code == 401
    assert client.get("/api/v1/accounts/ada", headers=bearer(ada)).json()["display_name"] == "Ada"
    assert client.get("/api/v1/accounts/ghost", headers=bearer(ada)).status_code == 404
