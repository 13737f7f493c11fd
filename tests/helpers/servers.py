"""Servers a test run starts for itself: PostgreSQL and Redis from Debian's packages and moto's S3
server, each a child process in a temporary folder on a loopback port the harness picks, stopped
when the block ends. Nothing relies on a system service."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.waiting import free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and these machines are root, a developer may not be.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def have_postgres() -> bool:
    return (PG_BIN / "postgres").exists()


@contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster in a temporary folder; yields its SQLAlchemy URL (psycopg 3).

    The folder is made in the system's temporary directory, not pytest's: that one is private
    to root, and the server runs as the `postgres` user."""
    with tempfile.TemporaryDirectory(prefix="roomscribe-pg-") as where, \
            _postgres(Path(where)) as url:
        yield url


@contextmanager
def _postgres(folder: Path) -> Iterator[str]:
    data, sockets = folder / "data", folder / "sockets"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "roomscribe",
                                 "--auth=trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    port = free_port()
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        _as_postgres([str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                      "-k", str(sockets), "-c", "listen_addresses=127.0.0.1",
                      "-c", "fsync=off", "-c", "max_connections=500"]),
        stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _ready(port) or server.poll() is not None, 30,
                 "PostgreSQL to accept connections")
        if server.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited: {(folder / 'server.log').read_text()}")
        yield f"postgresql+psycopg://roomscribe@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _ready(port: int) -> bool:
    done = subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                          capture_output=True)
    return done.returncode == 0


def create_database(admin_url: str, name: str) -> str:
    """A new, empty database on the same server; its URL."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server (`moto[server]`) on a loopback port; yields its endpoint URL. No real
    S3-compatible server installs on these machines, so the object-store tests run on this."""
    port = free_port()
    binary = Path(sys.executable).with_name("moto_server")
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _listening(port) or server.poll() is not None, 30,
                     "the S3 server to listen")
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"moto_server exited: {log.read().decode()}")
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(20)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def have_redis() -> bool:
    return shutil.which("redis-server") is not None


@contextmanager
def redis() -> Iterator[str]:
    """A Redis server (Debian's redis-server) on a loopback port, keeping nothing on disk; yields
    its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="roomscribe-redis-") as where:
        server = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", where,
             "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _listening(port) or server.poll() is not None, 30,
                     "Redis to listen")
            if server.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(20)
