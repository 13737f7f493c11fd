"""Fixtures every test layer shares: isolated settings and the real model, loaded once."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.profile import SCALE, settings_for, shared_postgres
from helpers.servers import create_database, have_postgres, s3_server
from roomscribe.asr.engine import Transcriber
from roomscribe.config import Settings

# Tests send audio faster than anyone speaks, make hundreds of accounts from one address and
# search in bursts: the limits that stop a stranger doing that are lifted for every test (servers
# the tests start inherit this), and the tests of the limits set their own.
UNLIMITED = {
    "AUDIO_BURST_SECONDS": "3600", "MAX_STREAM_BACKLOG_SECONDS": "3600",
    "SIGNIN_LIMIT": "1000000/minute", "SIGNIN_FAILURE_LIMIT": "1000000/minute",
    "SIGNUP_LIMIT": "1000000/minute", "SEARCH_LIMIT": "1000000/minute",
    "ANONYMOUS_SEARCH_LIMIT": "1000000/minute", "MAX_LIVE_ROOMS_PER_ACCOUNT": "1000",
    "MAX_AUDIO_SOCKETS_PER_ACCOUNT": "1000", "MAX_CAPTION_CONNECTIONS_PER_ACCOUNT": "100000",
    "MAX_CAPTION_CONNECTIONS_PER_ADDRESS": "100000",
    # Live audio needs its own network namespace (tests/media); elsewhere rooms are silent.
    "MEDIA": "off",
}
for name, value in UNLIMITED.items():
    os.environ.setdefault(f"ROOMSCRIBE_{name}", value)


# Media tests need a network namespace of their own (scripts/test makes it: unshare -n, then
# scripts/_netns.sh): outside one they are not collected, and scripts/test runs them inside.
collect_ignore = [] if os.environ.get("ROOMSCRIBE_NETNS") else ["media"]


def pytest_configure(config: pytest.Config) -> None:
    if SCALE:
        # psycopg warns when a pooled connection is collected rather than closed: test engines
        # made per test and dropped without dispose(); the server's own engine is disposed.
        config.addinivalue_line("filterwarnings",
                                "ignore:.*deleted while still open:ResourceWarning")
        config.addinivalue_line("filterwarnings",
                                "ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """On the run's profile (`scripts/test --profile scale`: a PostgreSQL database)."""
    return settings_for(tmp_path / "data")


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    """The real tiny.en model (int8, CPU), loaded once per test run."""
    return Transcriber.from_settings(Settings())


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The run's PostgreSQL server, started on first use (Debian's postgresql-15, which
    scripts/test installs when missing); its admin URL."""
    if not have_postgres():
        pytest.fail("PostgreSQL 15 is not installed: scripts/test installs it (as root)")
    return shared_postgres()


_databases = itertools.count()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database of its own for one test."""
    return create_database(postgres_server, f"test_{os.getpid()}_{next(_databases)}")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server for the run, started on first use; its endpoint URL."""
    with s3_server() as url:
        yield url


_buckets = itertools.count()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket of its own for one test, with credentials boto3 accepts."""
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    name = f"test-{os.getpid()}-{next(_buckets)}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name
