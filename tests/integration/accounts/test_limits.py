"""Sign-in, sign-up and search are limited per address and per account (429 with Retry-After),
and password hashing never takes more than its share of the cores."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from litestar import Litestar
from litestar.testing import TestClient

from helpers.profile import settings_for
from roomscribe.accounts.schemas import AccountCreate, SessionCreate
from roomscribe.accounts.service import AccountService, Limits
from roomscribe.app import create_app
from roomscribe.db import create_all, make_engine

Client = TestClient[Litestar]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = settings_for(tmp_path / "data", signin_limit="5/minute",
                        signin_failure_limit="3/minute", signup_limit="4/minute",
                        search_limit="6/minute", anonymous_search_limit="2/minute")
    app = create_app(settings, password_hasher=PasswordHasher.from_parameters(CHEAPEST))
    with TestClient(app) as client:
        yield client


def sign_up(client: Client, handle: str) -> int:
    return client.post("/api/v1/accounts", json={
        "handle": handle, "display_name": handle, "password": "password1"}).status_code


def sign_in(client: Client, handle: str, password: str = "password1") -> int:
    return client.post("/api/v1/sessions",
                       json={"handle": handle, "password": password}).status_code


def test_sign_ups_from_one_address_are_limited(client: Client) -> None:
    assert [sign_up(client, f"user{n}") for n in range(5)] == [201] * 4 + [429]
    refused = client.post("/api/v1/accounts", json={
        "handle": "late", "display_name": "Late", "password": "password1"})
    assert int(refused.headers["retry-after"]) > 0
    assert "too many new accounts from here" in refused.json()["detail"]


def test_failed_sign_ins_lock_the_handle_and_attempts_are_limited_per_address(
        client: Client) -> None:
    sign_up(client, "ada")
    assert [sign_in(client, "ada", "wrong password") for _ in range(4)] == [401] * 3 + [429]
    # Locked for everyone while the failures are in the window, the right password included.
    locked = client.post("/api/v1/sessions", json={"handle": "ADA", "password": "password1"})
    assert locked.status_code == 429 and "failed sign-ins to this account" in locked.text
    # This address has now made 5 attempts: the limit, whatever handle comes next.
    sign_up(client, "bob")
    assert sign_in(client, "bob") == 429
    page = client.post("/api/v1/sessions/cookie", json={"handle": "bob", "password": "password1"})
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0


def test_search_is_limited_and_more_tightly_without_an_account(client: Client) -> None:
    sign_up(client, "ada")
    token = client.post("/api/v1/sessions", json={"handle": "ada", "password": "password1"}
                        ).json()["token"]
    anonymous = [client.get("/api/v1/search", params={"q": "budget"}).status_code
                 for _ in range(3)]
    assert anonymous == [200, 200, 429]
    assert client.get("/search", params={"q": "budget"}).status_code == 429  # the page too
    signed_in = [client.get("/api/v1/search", params={"q": "budget"},
                            headers={"Authorization": f"Bearer {token}"}).status_code
                 for _ in range(7)]
    assert signed_in == [200] * 6 + [429]


class SlowHasher(PasswordHasher):
    """argon2 at its cheapest, taking 50 ms, counting how many hash at once."""

    def __init__(self) -> None:
        cheap = PasswordHasher.from_parameters(CHEAPEST)
        super().__init__(time_cost=cheap.time_cost, memory_cost=cheap.memory_cost,
                         parallelism=cheap.parallelism, hash_len=cheap.hash_len,
                         salt_len=cheap.salt_len)
        self.now = self.most = 0
        self._lock = threading.Lock()

    def _busy(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self._lock:
            self.now -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._busy()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self._busy()
        return super().verify(hash, password)


def test_password_hashing_runs_two_at_a_time_however_many_sign_in(tmp_path: Path) -> None:
    engine = make_engine(settings_for(tmp_path / "data"))
    create_all(engine)
    hasher = SlowHasher()
    accounts = AccountService(engine, hasher=hasher, limits=Limits(
        signin="1000/minute", signin_failures="1000/minute", concurrent_hashes=2))
    accounts.register(AccountCreate(handle="ada", display_name="Ada", password="password1"))
    hasher.most = 0
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: accounts.sign_in(
            SessionCreate(handle="ada", password="password1")), range(8)))
    assert len({t.token for t in tokens}) == 8
    assert hasher.most == 2
