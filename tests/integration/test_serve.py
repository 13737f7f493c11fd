"""`roomscribe serve` starts a real server that answers its health page and OpenAPI schema, and
refuses an oversized WebSocket message from its header."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from helpers.profile import server_env
from helpers.waiting import free_port


async def _oversized_frame(port: int) -> int | None:
    """Send one 16 MiB frame to a room's audio socket; the close code that comes back."""
    base = f"http://127.0.0.1:{port}/api/v1"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        account = {"handle": "big", "display_name": "Big", "password": "password1"}
        assert (await http.post("/accounts", json=account)).status_code == 201
        token = (await http.post("/sessions", json={"handle": "big", "password": "password1"})
                 ).json()["token"]
        room = (await http.post("/rooms", json={"title": "Big frames"},
                                headers={"Authorization": f"Bearer {token}"})).json()["id"]
    url = f"ws://127.0.0.1:{port}/api/v1/rooms/{room}/audio?token={token}"
    async with connect(url, max_size=None) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.send(bytes(16 * 1024 * 1024))
            await socket.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_serve_answers_health_and_schema(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "ROOMSCRIBE_DATA_DIR": str(tmp_path / "data"),
           **server_env(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "roomscribe", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"server did not start: {out}") from None
                time.sleep(0.3)
        assert health.json()["status"] == "ok"
        schema = httpx.get(f"http://127.0.0.1:{port}/schema/openapi.json", timeout=5)
        assert schema.status_code == 200
        assert schema.json()["info"]["title"] == "Roomscribe"
        assert httpx.get(f"http://127.0.0.1:{port}/schema", timeout=5).status_code == 200
        assert asyncio.run(_oversized_frame(port)) == 1009  # "message too big", before buffering it
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
