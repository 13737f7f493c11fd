"""AccountService against SQLite: the parts the API does not show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from argon2.profiles import CHEAPEST
from sqlalchemy import Engine

from roomscribe.accounts.schemas import AccountCreate, SessionCreate
from roomscribe.accounts.service import AccountService
from roomscribe.config import Settings
from roomscribe.db import create_all, make_engine
from roomscribe.errors import Conflict, InvalidInput


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    create_all(engine)
    yield engine
    engine.dispose()


def test_old_hashes_are_upgraded_at_sign_in(engine: Engine) -> None:
    old = AccountService(engine, hasher=PasswordHasher.from_parameters(CHEAPEST))
    old.register(AccountCreate(handle="ada", display_name="Ada", password="password1"))
    stronger = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1)
    new = AccountService(engine, hasher=stronger)
    assert stronger.check_needs_rehash(new.get("ada").password_hash)
    new.sign_in(SessionCreate(handle="ada", password="password1"))
    upgraded = new.get("ada").password_hash
    assert not stronger.check_needs_rehash(upgraded)
    assert stronger.verify(upgraded, "password1")


def test_make_admin_creates_or_promotes(engine: Engine) -> None:
    service = AccountService(engine, hasher=PasswordHasher.from_parameters(CHEAPEST))
    admin, created = service.make_admin("Root", password="password1")
    assert created and admin.is_admin and admin.handle == "root"
    service.register(AccountCreate(handle="ada", display_name="Ada", password="password1"))
    promoted, created = service.make_admin("ada", password=None)
    assert not created and promoted.is_admin
    with pytest.raises(InvalidInput, match="password"):
        service.make_admin("nobody", password=None)
    with pytest.raises(InvalidInput, match="password"):
        service.make_admin("ada", password="short")
    with pytest.raises(Conflict):
        service.register(AccountCreate(handle="ROOT", display_name="R", password="password1"))
